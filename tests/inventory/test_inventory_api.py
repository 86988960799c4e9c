"""Inventory over the real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from tests.support.live import LiveServer


def test_environment_target_component_lifecycle(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        created = http.post(
            "/api/v1/environments",
            json={
                "name": "production",
                "description": "Live",
                "order": 3,
                "policy": {"requires_change": True},
            },
        )
        assert created.status_code == 201, created.text
        assert created.json()["policy"] == {
            "requires_change": True,
            "approved_versions_only": True,
            "requires_window": False,
            "on_window_close": "pause",
        }

        target = http.post(
            "/api/v1/targets",
            json={
                "name": "web-01",
                "environment": "production",
                "labels": {"role": "web", "zone": "a"},
                "connection": "ssh",
                "address": "web-01.example.internal",
                "organisation": "acme",
            },
        )
        assert target.status_code == 201, target.text
        http.post(
            "/api/v1/targets",
            json={"name": "db-01", "environment": "production", "labels": {"role": "db"}},
        )

        component = http.post(
            "/api/v1/components", json={"name": "shop", "kind": "software", "owner": "Web team"}
        )
        assert component.status_code == 201, component.text

        listed = http.get("/api/v1/targets", params={"label": "role=web"}).json()["items"]
        assert [t["name"] for t in listed] == ["web-01"]
        everything = http.get("/api/v1/targets", params={"environment": "production"}).json()
        assert [t["name"] for t in everything["items"]] == ["db-01", "web-01"]

        moved = http.patch("/api/v1/targets/web-01", json={"labels": {"role": "api"}})
        assert moved.json()["labels"] == {"role": "api"}

        shown = http.get("/api/v1/targets/web-01").json()
        assert shown["environment"] == "production"
        assert shown["connection"] == "ssh"
        assert shown["organisation"] == "acme"

        refused = http.delete("/api/v1/environments/production")
        assert refused.status_code == 409
        assert "2 target(s)" in refused.json()["error"]["message"]

        assert http.delete("/api/v1/targets/web-01").status_code == 204
        assert http.delete("/api/v1/targets/db-01").status_code == 204
        assert http.delete("/api/v1/environments/production").status_code == 204
        assert http.get("/api/v1/environments/production").status_code == 404

    with live.client("auditor") as http:
        actions = [
            e["action"]
            for e in http.get("/api/v1/audit/events?limit=1000").json()["items"]
            if e["actor"] == "deployment-manager"
        ]
    assert actions == [
        "environment.create",
        "target.create",
        "target.create",
        "component.create",
        "target.update",
        "target.delete",
        "target.delete",
        "environment.delete",
    ]


def test_duplicates_are_409_and_unknown_references_404_by_name(live: LiveServer) -> None:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "test"}).status_code == 201
        duplicate = http.post("/api/v1/environments", json={"name": "test"})
        assert duplicate.status_code == 409
        assert duplicate.json()["error"]["message"] == "environment 'test' already exists"

        unknown = http.post("/api/v1/targets", json={"name": "t1", "environment": "nowhere"})
        assert unknown.status_code == 404
        assert unknown.json()["error"] == {
            "code": "not_found",
            "message": "environment 'nowhere' not found",
            "details": {"environment": "nowhere"},
        }
        assert http.get("/api/v1/components/ghost").json()["error"]["message"] == (
            "component 'ghost' not found"
        )


def test_update_records_only_what_changed(live: LiveServer) -> None:
    with live.client() as http:
        http.post("/api/v1/components", json={"name": "manual", "kind": "documentation"})
        http.patch("/api/v1/components/manual", json={"owner": "Docs"})
        http.patch("/api/v1/components/manual", json={"owner": "Docs"})  # no change: no event
        events = http.get("/api/v1/audit/events", params={"subject_id": "manual"}).json()["items"]
    assert [e["action"] for e in events] == ["component.create", "component.update"]
    assert events[1]["before"] == {"owner": None}
    assert events[1]["after"] == {"owner": "Docs"}


def test_paging_walks_every_item(live: LiveServer) -> None:
    with live.client() as http:
        for number in range(7):
            http.post("/api/v1/components", json={"name": f"c{number}", "kind": "process"})
        seen: list[str] = []
        offset: int | None = 0
        while offset is not None:
            answer = http.get("/api/v1/components", params={"limit": 3, "offset": offset}).json()
            seen += [c["name"] for c in answer["items"]]
            offset = answer["next_offset"]
    assert seen == [f"c{n}" for n in range(7)]
