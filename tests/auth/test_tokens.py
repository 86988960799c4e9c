"""Tokens: random, stored only as hashes, revocable, expiring; disabled principals are out."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import text

from golive.auth.service import SYSTEM, issue_token
from golive.db import utcnow
from tests.support.live import LiveServer


def test_secret_is_never_stored(live: LiveServer) -> None:
    secret = live.tokens["deployer"]
    with live.db.engine.connect() as connection:
        dump = "\n".join(
            str(row)
            for table in ("api_tokens", "principals", "audit_events")
            for row in connection.execute(text(f"SELECT * FROM {table}"))
        )
    assert secret not in dump
    assert secret[len("glv_") :] not in dump


def test_tokens_are_distinct_and_long() -> None:
    from golive.auth.service import new_secret

    secrets = {new_secret() for _ in range(200)}
    assert len(secrets) == 200
    assert all(len(secret) >= 40 for secret in secrets)


def test_expired_token_is_refused(live: LiveServer) -> None:
    with live.db.writing() as session:
        _, secret = issue_token(
            session, SYSTEM, principal_name="auditor", expires_at=utcnow() + timedelta(seconds=1)
        )
    with live.client(token=secret) as http:
        assert http.get("/api/v1/me").status_code == 200
        time.sleep(1.2)
        answer = http.get("/api/v1/me")
    assert answer.status_code == 401
    assert "expired" in answer.json()["error"]["message"]


def test_disabled_principal_is_refused_and_cannot_disable_itself(live: LiveServer) -> None:
    with live.client() as admin:
        assert (
            admin.patch("/api/v1/principals/deployer", json={"disabled": True}).status_code == 200
        )
        assert admin.patch("/api/v1/principals/admin", json={"disabled": True}).status_code == 409
        with live.client("deployer") as http:
            answer = http.get("/api/v1/targets")
        assert answer.status_code == 401
        assert "disabled" in answer.json()["error"]["message"]
        assert (
            admin.patch("/api/v1/principals/deployer", json={"disabled": False}).status_code == 200
        )
        with live.client("deployer") as http:
            assert http.get("/api/v1/targets").status_code == 200


def test_revoking_is_audited_with_its_reason(live: LiveServer) -> None:
    with live.client() as admin:
        issued = admin.post("/api/v1/tokens", json={"principal": "supplier", "name": "ci"}).json()
        revoked = admin.post(f"/api/v1/tokens/{issued['id']}/revoke", json={"reason": "leaked"})
        assert revoked.json()["revoked_at"] is not None
        again = admin.post(f"/api/v1/tokens/{issued['id']}/revoke", json={})
        assert again.status_code == 200
        events = admin.get("/api/v1/audit/events", params={"action": "token.revoke"}).json()[
            "items"
        ]
    assert [(e["subject_id"], e["reason"]) for e in events] == [(str(issued["id"]), "leaked")]
    with live.client(token=issued["token"]) as http:
        assert http.get("/api/v1/me").status_code == 401
