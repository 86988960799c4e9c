"""The check-in (GET /api/v1/agent/desired): ETags, 304s, inventory requests, and no writes."""

from __future__ import annotations

import sqlite3

from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from golive.db import Database
from golive.models import metadata
from tests.agents.conftest import Fleet


def test_desired_then_304_then_200_after_a_new_assignment(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.add_version("2.0", component="docs")
    agent = fleet.agent()
    first = agent.desired()
    assert first.status_code == 200, first.text
    body = first.json()
    assert body == {
        "target": "web-01",
        "etag": first.headers["etag"],
        "poll_interval_seconds": 30,
        "send_inventory": False,
        "assignments": [],
    }
    unchanged = agent.desired()
    assert unchanged.status_code == 304
    assert unchanged.headers["etag"] == agent.etag
    assert unchanged.content == b""

    shop = fleet.assign("web-01", "1.0", hooks={"health_check": "curl -fsS localhost"})
    docs = fleet.assign("web-01", "2.0", component="docs", action="install")
    changed = agent.desired()
    assert changed.status_code == 200
    assert changed.headers["etag"] != first.headers["etag"]
    assignments = changed.json()["assignments"]
    assert [a["id"] for a in assignments] == [shop, docs]  # oldest first
    assert assignments[0] == {
        "id": shop,
        "action": "install",
        "component": "shop",
        "version": "1.0",
        "digest": fleet.versions["1.0"],
        "size": len(b"shop build 1.0"),
        "tuf_target": "shop/1.0/shop-1.0",
        "state": "dispatched",  # listing a pending assignment dispatches it
        "hooks": {"health_check": "curl -fsS localhost"},
        "hook_timeout_seconds": 300,
        "keep_releases": 3,
    }
    assert len(fleet.audit_actions("assignment.dispatched")) == 2
    assert agent.desired().status_code == 304
    # A report changes the assignment, so the next check-in is a 200 again.
    assert agent.report(shop, "downloading").status_code == 200
    again = agent.desired()
    assert again.status_code == 200
    assert again.json()["assignments"][0]["state"] == "downloading"
    assert agent.desired().status_code == 304


def test_the_tuf_target_path_is_one_the_repository_publishes(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    fleet.assign("web-01", "1.0")
    [assignment] = agent.desired().json()["assignments"]
    with fleet.live.client(None) as http:
        timestamp = http.get("/tuf/metadata/timestamp.json").json()
        snapshot_version = timestamp["signed"]["meta"]["snapshot.json"]["version"]
        snapshot = http.get(f"/tuf/metadata/{snapshot_version}.snapshot.json").json()
        targets_version = snapshot["signed"]["meta"]["targets.json"]["version"]
        targets = http.get(f"/tuf/metadata/{targets_version}.targets.json").json()
    published = targets["signed"]["targets"][assignment["tuf_target"]]
    assert published["hashes"]["sha256"] == assignment["digest"]
    assert published["length"] == assignment["size"]


def test_send_inventory_follows_the_reported_digest(fleet: Fleet) -> None:
    agent = fleet.agent()
    inventory = {"installed": [], "unauthorised": []}
    agent.inventory_digest = "0" * 64  # what the agent computed; the server has none yet
    first = agent.desired()
    assert first.json()["send_inventory"] is True
    # The ETag alone would match, but the server still wants the inventory.
    asked = agent.desired()
    assert asked.status_code == 200
    assert asked.json()["send_inventory"] is True
    recorded = agent.send_inventory(inventory)
    assert recorded.status_code == 200, recorded.text
    assert recorded.json()["recorded"] is True
    agent.inventory_digest = recorded.json()["digest"]
    assert agent.desired().status_code == 304
    # Without the header the ETag decides alone.
    agent.inventory_digest = None
    assert agent.desired().status_code == 304


def _row_counts(fleet: Fleet) -> dict[str, int]:
    with fleet.live.db.reading() as session:
        return {
            name: int(session.scalar(select(func.count()).select_from(table)) or 0)
            for name, table in metadata.tables.items()
        }


class WriteWatcher:
    """Sees whether anything was written: on SQLite the data_version of a connection of
    its own (it moves when any other connection commits a change), on PostgreSQL the
    next transaction id (read-only transactions are never given one)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.sqlite: sqlite3.Connection | None = None
        if db.is_sqlite:
            path = make_url(db.url).database
            assert path is not None
            self.sqlite = sqlite3.connect(path)

    def marker(self) -> int:
        if self.sqlite is not None:
            return int(self.sqlite.execute("PRAGMA data_version").fetchone()[0])
        with self.db.engine.connect() as connection:
            found = connection.exec_driver_sql(
                "SELECT pg_snapshot_xmax(pg_current_snapshot())::text"
            ).scalar()
        return int(str(found))

    def close(self) -> None:
        if self.sqlite is not None:
            self.sqlite.close()


def test_unchanged_check_ins_write_nothing(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    agent.inventory_digest = agent.send_inventory({"installed": []}).json()["digest"]
    fleet.assign("web-01", "1.0")
    assert agent.desired().status_code == 200
    before = _row_counts(fleet)
    events = fleet.audit_actions("assignment.dispatched")
    watcher = WriteWatcher(fleet.live.db)
    try:
        marker = watcher.marker()
        for _ in range(50):
            assert agent.desired().status_code == 304
        assert watcher.marker() == marker
        # The watcher itself notices a write.
        with fleet.live.db.writing() as session:
            session.execute(text("UPDATE agent_states SET desired_generation = 99"))
        assert watcher.marker() != marker
    finally:
        watcher.close()
    assert _row_counts(fleet) == before
    assert fleet.audit_actions("assignment.dispatched") == events
