"""Edit the stored trail behind golive's back and watch verification name the event."""

from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import text

from tests.conftest import Cli
from tests.support.live import LiveServer


def _make_history(live: LiveServer) -> None:
    with live.client() as http:
        http.post("/api/v1/environments", json={"name": "staging"})
        for number in range(4):
            http.post("/api/v1/targets", json={"name": f"web-{number}", "environment": "staging"})
        http.patch("/api/v1/targets/web-2", json={"labels": {"role": "web"}})


def test_verify_passes_then_names_the_edited_row(
    live: LiveServer, cli: Cli, tmp_path: Path
) -> None:
    _make_history(live)
    cli.use(live.url, live.tokens["auditor"])
    code, out, _ = cli("audit", "verify")
    assert code == 0, out
    assert "Audit chain intact" in out

    export = tmp_path / "trail.jsonl"
    assert cli("audit", "export", "--file", str(export))[0] == 0

    with live.client("auditor") as http:
        events = http.get("/api/v1/audit/events", params={"limit": 1000}).json()["items"]
    victim = next(
        e["seq"] for e in events if e["action"] == "target.create" and e["subject_id"] == "web-1"
    )
    with live.db.engine.begin() as connection:
        connection.execute(
            text("UPDATE audit_events SET actor = 'mallory' WHERE seq = :seq"), {"seq": victim}
        )

    code, out, err = cli("audit", "verify")
    assert code == 1
    assert f"BROKEN at event {victim}" in err
    code, out, _ = cli("audit", "verify", "--output", "json")
    assert code == 1
    assert json.loads(out)["broken_seq"] == victim

    # The export taken before the edit still verifies offline, and an edited copy does not.
    assert cli("audit", "verify", "--file", str(export))[0] == 0
    lines = export.read_text().splitlines()
    edited = json.loads(lines[victim - 1])
    edited["after"]["labels"] = {"role": "rogue"}
    lines[victim - 1] = json.dumps(edited)
    forged = tmp_path / "forged.jsonl"
    forged.write_text("\n".join(lines) + "\n")
    code, _, err = cli("audit", "verify", "--file", str(forged))
    assert code == 1
    assert f"event {victim}" in err


def test_deleting_the_newest_event_is_caught(live: LiveServer) -> None:
    _make_history(live)
    with live.db.engine.begin() as connection:
        last = connection.execute(text("SELECT max(seq) FROM audit_events")).scalar_one()
        connection.execute(text("DELETE FROM audit_events WHERE seq = :seq"), {"seq": last})
    with live.client("auditor") as http:
        verdict = http.get("/api/v1/audit/verify").json()
    assert verdict["ok"] is False
    assert verdict["broken_seq"] == last


def test_no_endpoint_changes_or_deletes_events(live: LiveServer) -> None:
    _make_history(live)
    with live.client() as http:
        for method in ("PUT", "PATCH", "DELETE", "POST"):
            assert http.request(method, "/api/v1/audit/events").status_code == 405
            assert http.request(method, "/api/v1/audit/events/1").status_code == 404
