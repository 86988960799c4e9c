"""Deleting a record another room still needs is refused with a sentence saying why."""

from __future__ import annotations

from tests.support.live import LiveServer


def test_component_with_versions_and_target_with_hardware_stay(live: LiveServer) -> None:
    with live.client() as http:
        http.post("/api/v1/environments", json={"name": "site"})
        http.post("/api/v1/targets", json={"name": "rack-1", "environment": "site"})
        http.post("/api/v1/components", json={"name": "fw", "kind": "software"})
        http.post(
            "/api/v1/components/fw/versions",
            params={"version": "1"},
            content=b"fw",
            headers={"Content-Type": "application/octet-stream"},
        )
        refused = http.delete("/api/v1/components/fw")
        assert refused.status_code == 409
        assert "1 version(s) in the media library" in refused.json()["error"]["message"]

        http.post(
            "/api/v1/hardware/models",
            json={"name": "r650", "vendor": "Dell", "model": "PowerEdge R650"},
        )
        http.post(
            "/api/v1/hardware/items",
            json={"serial": "SN-1", "model": "r650", "store_location": "store-a"},
        )
        reserved = http.post("/api/v1/hardware/items/SN-1/reserve", json={"target": "rack-1"})
        assert reserved.status_code == 200, reserved.text
        refused = http.delete("/api/v1/targets/rack-1")
        assert refused.status_code == 409
        assert "SN-1" in refused.json()["error"]["message"]

        assert http.post("/api/v1/hardware/items/SN-1/return", json={}).status_code == 200
        assert http.delete("/api/v1/targets/rack-1").status_code == 204
