"""The ITSM bridge over a real server: signed requests create, update and move change
requests; unsigned, badly signed, stale or unknown ones change nothing."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import httpx
import pytest

from tests.conftest import Cli
from tests.support.live import LiveServer

BRIDGE = "/api/v1/itsm/changes"
RECORD: dict[str, Any] = {
    "number": "CHG0030001",
    "short_description": "Shop 2.0 to production",
    "description": "New checkout",
    "type": "normal",
    "risk": "3 - Moderate",
    "state": "new",
    "start_date": "2026-12-05 22:00:00",
    "end_date": "2026-12-06 02:00:00",
    "cmdb_ci": ["web-01", "web-02"],
    "u_components": "shop",
    "backout_plan": "roll back to 1.0",
    "sys_id": "9d385017c611228701d22104cc95c371",
}


def sign(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Signed as docs/itsm.md tells an ITSM admin to sign, written out independently."""
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
    return {
        "X-Golive-Timestamp": stamp,
        "X-Golive-Signature": f"sha256={digest.hexdigest()}",
    }


def send(
    live: LiveServer,
    record: dict[str, Any],
    secret: str,
    *,
    connection: str = "servicenow",
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = json.dumps(record).encode()
    sent = {"Content-Type": "application/json", "X-Golive-Connection": connection}
    sent.update(sign(secret, body) if headers is None else headers)
    with live.client(None) as http:
        return http.post(BRIDGE, content=body, headers=sent)


def last_seq(live: LiveServer) -> int:
    with live.client("auditor") as http:
        verdict = http.get("/api/v1/audit/verify").json()
    assert verdict["ok"], verdict
    return int(verdict["last_seq"])


def events_of(live: LiveServer, subject: str) -> list[dict[str, Any]]:
    with live.client("auditor") as http:
        found: list[dict[str, Any]] = http.get(
            "/api/v1/audit/events", params={"limit": 1000}
        ).json()["items"]
    return sorted((e for e in found if e["subject_id"] == subject), key=lambda e: e["seq"])


@pytest.fixture
def estate(live: LiveServer) -> LiveServer:
    with live.client() as http:
        for body in ({"name": "production", "policy": {"requires_change": True}},):
            assert http.post("/api/v1/environments", json=body).status_code == 201
        made = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
        assert made.status_code == 201
        for name in ("web-01", "web-02"):
            made = http.post("/api/v1/targets", json={"name": name, "environment": "production"})
            assert made.status_code == 201
    return live


@pytest.fixture
def secret(estate: LiveServer, cli: Cli) -> str:
    """The secret of connection servicenow, from `golive itsm connections create`."""
    cli.use(estate.url, estate.tokens["admin"])
    code, out, err = cli("itsm", "connections", "create", "servicenow", "--description", "SN")
    assert code == 0, err
    assert "recorded as itsm:servicenow" in out
    assert "will not be shown again" in out
    shown = out.strip().splitlines()[-1].strip()
    assert shown.startswith("glvc_")
    # Never shown again: not by show, not by list.
    code, out, _ = cli("itsm", "connections", "show", "servicenow", "-o", "json")
    assert code == 0
    assert shown not in out
    assert "secret" not in json.loads(out)
    return shown


def test_signed_create_update_submit_and_close(estate: LiveServer, secret: str) -> None:
    live = estate
    created = send(live, RECORD, secret)
    assert created.status_code == 201, created.text
    answer = created.json()
    assert answer["result"] == "created"
    assert answer["ignored_fields"] == ["sys_id"]
    change = answer["change"]
    ref = change["ref"]
    assert change["state"] == "draft"
    assert change["external_ref"] == "CHG0030001"
    assert change["requester"] == "itsm:servicenow"
    assert change["environments"] == ["production"]  # from the targets in cmdb_ci
    assert change["targets"] == ["web-01", "web-02"]
    assert change["risk"] == "medium"
    assert change["planned_windows"][0]["start"] == "2026-12-05T22:00:00+00:00"

    # The same record again (a retry): nothing to do, nothing written.
    before = last_seq(live)
    again = send(live, RECORD, secret)
    assert again.status_code == 200, again.text
    assert again.json()["result"] == "unchanged"
    assert last_seq(live) == before

    edited = send(live, {**RECORD, "short_description": "Shop 2.1 to production"}, secret)
    assert edited.status_code == 200, edited.text
    assert edited.json()["result"] == "updated"
    assert edited.json()["change"]["title"] == "Shop 2.1 to production"

    record = {**RECORD, "short_description": "Shop 2.1 to production", "state": "assess"}
    submitted = send(live, record, secret)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["done"] == ["submit"]
    assert submitted.json()["change"]["state"] == "submitted"

    # Scheduled in ServiceNow: golive authorises only through its change authority.
    scheduled = send(live, {**record, "state": "scheduled"}, secret)
    assert scheduled.status_code == 200, scheduled.text
    assert scheduled.json()["change"]["state"] == "submitted"
    # Closing before golive's authority decided is refused, and says why.
    early = send(live, {**record, "state": "closed"}, secret)
    assert early.status_code == 409
    assert "does not authorise" in early.json()["error"]["message"]
    # The fields of a submitted change no longer change.
    late_edit = send(live, {**record, "short_description": "Shop 3"}, secret)
    assert late_edit.status_code == 409
    assert "only a draft may be edited" in late_edit.json()["error"]["message"]

    with live.client("change_authority") as http:
        approved = http.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "authorised"

    closing = {**record, "state": "closed", "close_code": "successful", "close_notes": "done"}
    closed = send(live, closing, secret)
    assert closed.status_code == 200, closed.text
    assert closed.json()["done"] == ["implement", "close"]
    assert closed.json()["change"]["state"] == "closed"
    assert closed.json()["change"]["outcome"] == "succeeded"

    trail = [(e["action"], e["actor"]) for e in events_of(live, ref)]
    assert trail == [
        ("change.create", "itsm:servicenow"),
        ("change.update", "itsm:servicenow"),
        ("change.submit", "itsm:servicenow"),
        ("change.approve", "change-authority"),
        ("change.authorise", "change-authority"),
        ("change.implement", "itsm:servicenow"),
        ("change.close", "itsm:servicenow"),
    ]


def test_create_submitted_then_cancel(estate: LiveServer, secret: str) -> None:
    live = estate
    record = {**RECORD, "number": "CHG0030002", "state": "-4", "u_environment": "production"}
    created = send(live, {"result": record}, secret)  # a Table API answer, as it comes
    assert created.status_code == 201, created.text
    assert created.json()["done"] == ["create", "submit"]
    ref = created.json()["change"]["ref"]
    cancelled = send(live, {**record, "state": "canceled", "close_notes": "not needed"}, secret)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["change"]["state"] == "cancelled"
    assert cancelled.json()["change"]["state_reason"] == "not needed"
    assert [e["action"] for e in events_of(live, ref)][-1] == "change.cancel"


def test_refused_requests_change_nothing(estate: LiveServer, secret: str) -> None:
    live = estate
    record = {**RECORD, "number": "CHG0030003"}
    body = json.dumps(record).encode()
    stale = sign(secret, body, timestamp=int(time.time()) - 320)
    future = sign(secret, body, timestamp=int(time.time()) + 320)
    forged = sign("glvc_not-the-secret", body)
    other_body = sign(secret, body + b" ")
    cases: list[tuple[str, dict[str, str] | None, str, str]] = [
        ("missing signature", {}, "servicenow", "not signed"),
        (
            "missing timestamp",
            {"X-Golive-Signature": forged["X-Golive-Signature"]},
            "servicenow",
            "not signed",
        ),
        ("bad signature", forged, "servicenow", "does not match"),
        ("signature of another body", other_body, "servicenow", "does not match"),
        ("stale timestamp", stale, "servicenow", "replay protection"),
        ("timestamp from the future", future, "servicenow", "replay protection"),
        ("unknown connection", None, "jira", "not an active ITSM connection"),
        ("no connection named", None, "", "name the ITSM connection"),
    ]
    before = last_seq(live)
    for what, headers, connection, fragment in cases:
        answer = send(live, record, secret, connection=connection, headers=headers)
        assert answer.status_code == 401, (what, answer.text)
        error = answer.json()["error"]
        assert error["code"] == "unauthenticated", what
        assert fragment in error["message"], (what, error["message"])
    # A paused connection is refused too, with a valid signature.
    with live.client() as http:
        paused = http.patch("/api/v1/itsm/connections/servicenow", json={"active": False})
        assert paused.status_code == 200
    after_pause = last_seq(live)
    answer = send(live, record, secret)
    assert answer.status_code == 401
    assert last_seq(live) == after_pause == before + 1  # only the pause itself
    with live.client() as http:
        assert http.get("/api/v1/changes").json()["items"] == []


def test_bad_records_are_refused_with_the_field_named(estate: LiveServer, secret: str) -> None:
    live = estate
    before = last_seq(live)
    cases = [
        ({**RECORD, "u_environment": "nowhere"}, 404, "nowhere"),
        ({**RECORD, "state": "pending"}, 422, "state 'pending'"),
        ({**RECORD, "short_description": ""}, 422, "short_description is required"),
        ({**RECORD, "cmdb_ci": ["Web 01"]}, 422, "cmdb_ci"),
        ({**RECORD, "state": "closed"}, 409, "new to golive"),
    ]
    for record, status, fragment in cases:
        answer = send(live, record, secret)
        assert answer.status_code == status, (record, answer.text)
        assert fragment in answer.json()["error"]["message"], answer.text
    not_json = b"{number: CHG1"
    with live.client(None) as http:
        answer = http.post(
            BRIDGE,
            content=not_json,
            headers={"X-Golive-Connection": "servicenow", **sign(secret, not_json)},
        )
    assert answer.status_code == 422
    assert "not valid JSON" in answer.json()["error"]["message"]
    assert last_seq(live) == before


def test_only_its_own_changes(estate: LiveServer, secret: str) -> None:
    """A change raised in golive with an external reference is not the bridge's to edit."""
    live = estate
    with live.client("deployer") as http:
        made = http.post(
            "/api/v1/changes",
            json={"title": "by hand", "environments": ["production"], "external_ref": "CHG9"},
        )
        assert made.status_code == 201, made.text
    answer = send(live, {**RECORD, "number": "CHG9", "state": "canceled"}, secret)
    assert answer.status_code == 409
    assert "raised by deployer" in answer.json()["error"]["message"]
