"""Many writers at once keep one unbroken chain (the head row serialises them)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from tests.support.live import LiveServer


def test_parallel_writes_keep_the_chain_intact(live: LiveServer) -> None:
    with live.client() as http:
        http.post("/api/v1/environments", json={"name": "load"})

    def create(number: int) -> int:
        with live.client() as http:
            return http.post(
                "/api/v1/targets", json={"name": f"t-{number}", "environment": "load"}
            ).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(create, range(60)))
    assert statuses == [201] * 60
    with live.client("auditor") as http:
        verdict = http.get("/api/v1/audit/verify").json()
        events = http.get("/api/v1/audit/events", params={"limit": 1000}).json()["items"]
    assert verdict["ok"], verdict
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert sum(e["action"] == "target.create" for e in events) == 60
