"""Metrics, request ids and the OpenAPI description."""

from __future__ import annotations

from tests.support.live import LiveServer


def test_metrics_count_requests_by_route_template(live: LiveServer) -> None:
    with live.client() as http:
        http.post("/api/v1/environments", json={"name": "dev"})
        for _ in range(3):
            http.get("/api/v1/environments/dev")
        http.get("/api/v1/environments/ghost")
        metrics = http.get("/metrics")
    assert metrics.status_code == 200
    body = metrics.text
    assert (
        'golive_http_requests_total{method="GET",route="/api/v1/environments/{name}",'
        'status="200"} 3.0'
    ) in body
    assert 'route="/api/v1/environments/{name}",status="404"} 1.0' in body
    assert "golive_http_request_duration_seconds_bucket" in body
    assert "/environments/dev" not in body  # no unbounded labels


def test_request_id_is_echoed_or_made(live: LiveServer) -> None:
    with live.client(None) as http:
        given = http.get("/api/v1/health", headers={"X-Request-Id": "abc-123"})
        made = http.get("/api/v1/health")
    assert given.headers["x-request-id"] == "abc-123"
    assert len(made.headers["x-request-id"]) == 16


def test_openapi_documents_bearer_auth(live: LiveServer) -> None:
    with live.client(None) as http:
        spec = http.get("/openapi.json").json()
        docs = http.get("/docs")
    assert docs.status_code == 200
    assert spec["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    assert "/api/v1/audit/verify" in spec["paths"]
