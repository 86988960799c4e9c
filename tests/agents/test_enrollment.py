"""Enrollment and agent credentials over the real HTTP server, on both backends."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from golive.agents.models import AgentCredential, EnrollmentToken
from golive.db import utcnow
from tests.agents.conftest import Fleet, StandInAgent, public_key_pem


def test_enroll_register_creates_an_agent_target(fleet: Fleet) -> None:
    token = fleet.enroll_token(organisation="acme")
    assert token.startswith("gle_")
    key = public_key_pem()
    answer = fleet.register(token, "web-01", key)
    assert answer.status_code == 201, answer.text
    body = answer.json()
    assert body["target"] == "web-01"
    assert body["environment"] == "production"
    assert body["credential"].startswith("gla_")
    assert body["poll_interval_seconds"] == 30
    assert body["tuf_root"]["signed"]["_type"] == "root"
    assert body["tuf_root"]["signed"]["version"] == 1
    with fleet.live.client("auditor") as http:
        target = http.get("/api/v1/targets/web-01").json()
    assert target["connection"] == "agent"
    assert target["labels"] == {"role": "web"}
    assert target["organisation"] == "acme"
    [registered] = fleet.audit_actions("agent.register")
    assert registered["actor"] == "agent:web-01"
    assert registered["after"]["facts"]["hostname"] == "web-01"
    assert len(fleet.audit_actions("target.create")) == 1
    # Only the hash of each secret is stored.
    with fleet.live.db.reading() as session:
        hashes = set(session.scalars(select(AgentCredential.secret_hash)))
        hashes |= set(session.scalars(select(EnrollmentToken.secret_hash)))
    assert body["credential"] not in hashes
    assert token not in hashes


def test_same_key_again_is_idempotent_and_replaces_the_credential(fleet: Fleet) -> None:
    token = fleet.enroll_token()
    key = public_key_pem()
    first = fleet.register(token, "web-01", key).json()
    again = fleet.register(token, "web-01", key)
    assert again.status_code == 200, again.text
    assert again.json()["credential"] != first["credential"]
    new = StandInAgent(fleet.live.url, again.json()["credential"], "web-01")
    old = StandInAgent(fleet.live.url, first["credential"], "web-01")
    assert new.desired().status_code == 200
    refused = old.desired()
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "target_revoked"


def test_a_different_key_for_a_known_name_is_refused(fleet: Fleet) -> None:
    token = fleet.enroll_token()
    assert fleet.register(token, "web-01").status_code == 201
    refused = fleet.register(token, "web-01")
    assert refused.status_code == 409
    assert "another public key" in refused.json()["error"]["message"]


def test_an_existing_target_elsewhere_is_refused(fleet: Fleet) -> None:
    assert fleet.register(fleet.enroll_token("dev"), "web-01").status_code == 201
    refused = fleet.register(fleet.enroll_token("production"), "web-01")
    assert refused.status_code == 409
    assert "environment dev" in refused.json()["error"]["message"]
    with fleet.live.client() as http:
        http.post("/api/v1/targets", json={"name": "db-01", "environment": "production",
                                           "connection": "ssh"})  # fmt: skip
    refused = fleet.register(fleet.enroll_token(), "db-01")
    assert refused.status_code == 409
    assert "reached by ssh" in refused.json()["error"]["message"]


def test_a_pre_registered_agent_target_is_adopted(fleet: Fleet) -> None:
    with fleet.live.client() as http:
        created = http.post("/api/v1/targets", json={"name": "kiosk-1", "environment": "dev"})
        assert created.status_code == 201
    answer = fleet.register(fleet.enroll_token("dev"), "kiosk-1")
    assert answer.status_code == 201, answer.text


@pytest.mark.parametrize("problem", ["unknown", "expired", "revoked", "api-token", "none"])
def test_registration_needs_a_usable_enrollment_token(fleet: Fleet, problem: str) -> None:
    token = fleet.enroll_token()
    if problem == "unknown":
        token = "gle_" + "x" * 43
    elif problem == "expired":
        with fleet.live.db.writing() as session:
            session.execute(
                update(EnrollmentToken).values(expires_at=utcnow() - timedelta(seconds=1))
            )
    elif problem == "revoked":
        with fleet.live.client("deployment_manager") as http:
            revoked = http.post("/api/v1/agent/enrollment-tokens/1/revoke")
            assert revoked.json()["revoked_at"] is not None
    elif problem == "api-token":
        token = fleet.live.tokens["admin"]
    elif problem == "none":
        token = ""
    answer = fleet.register(token, "web-01")
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "unauthenticated"
    with fleet.live.client("auditor") as http:
        assert http.get("/api/v1/targets/web-01").status_code == 404


def test_token_expiry_must_lie_ahead_and_the_key_must_be_ed25519(fleet: Fleet) -> None:
    with fleet.live.client("deployment_manager") as http:
        past = http.post(
            "/api/v1/agent/enrollment-tokens",
            json={"environment": "production", "expires_at": "2020-01-01T00:00:00Z"},
        )
        assert past.status_code == 422
        unknown = http.post("/api/v1/agent/enrollment-tokens", json={"environment": "nowhere"})
        assert unknown.status_code == 404
    token = fleet.enroll_token()
    for bad in ("not a key", "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"):
        refused = fleet.register(token, "web-01", bad)
        assert refused.status_code == 422, refused.text
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    p256 = ec.generate_private_key(ec.SECP256R1()).public_key()
    pem = p256.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    refused = fleet.register(token, "web-01", pem)
    assert refused.status_code == 422
    assert "ed25519" in refused.json()["error"]["message"]


def test_revoked_agent_is_401_target_revoked_everywhere(fleet: Fleet) -> None:
    token = fleet.enroll_token()
    key = public_key_pem()
    registered = fleet.register(token, "web-01", key).json()
    agent = StandInAgent(fleet.live.url, registered["credential"], "web-01")
    with fleet.live.client("deployer") as http:
        assert http.post("/api/v1/targets/web-01/revoke-agent").status_code == 403
    with fleet.live.client("deployment_manager") as http:
        revoked = http.post("/api/v1/targets/web-01/revoke-agent")
        assert revoked.status_code == 200
        assert revoked.json()["credentials_revoked"] == 1
        again = http.post("/api/v1/targets/web-01/revoke-agent")
        assert again.json()["credentials_revoked"] == 0
    assert len(fleet.audit_actions("agent.revoke")) == 1
    with agent.http() as http:
        outbox = http.post("/api/v1/agent/reports", json={"reports": []})
        unknown = http.post(
            "/api/v1/agent/reports",
            json={"reports": []},
            headers={"Authorization": "Bearer gla_not-a-credential-of-anyone"},
        )
    assert unknown.status_code == 401
    assert unknown.json()["error"]["code"] == "unauthenticated"
    for answer in (
        agent.desired(),
        agent.report(1, "downloading"),
        agent.send_inventory({"installed": [], "unauthorised": []}),
        outbox,
    ):
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "target_revoked"
        assert answer.headers["www-authenticate"] == "Bearer"
    # The old enrollment token cannot bring it back; one created afterwards can.
    refused = fleet.register(token, "web-01", key)
    assert refused.status_code == 409
    assert "revoked" in refused.json()["error"]["message"]
    readmitted = fleet.register(fleet.enroll_token(), "web-01", public_key_pem())
    assert readmitted.status_code == 201, readmitted.text
    fresh = StandInAgent(fleet.live.url, readmitted.json()["credential"], "web-01")
    assert fresh.desired().status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer glv_not-an-agent", "Bearer gla_unknown", "Basic abc", "Bearer gle_x"],
)
def test_agent_calls_need_an_agent_credential(fleet: Fleet, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    with fleet.live.client(None) as http:
        answers = [
            http.get("/api/v1/agent/desired", headers=headers),
            http.post(
                "/api/v1/agent/report",
                json={"assignment_id": 1, "state": "downloading"},
                headers=headers,
            ),
            http.post("/api/v1/agent/inventory", json={"installed": []}, headers=headers),
        ]
    for answer in answers:
        assert answer.status_code == 401, answer.text
        assert answer.json()["error"]["code"] == "unauthenticated"
    with fleet.live.client("admin") as http:  # a golive API token is not an agent credential
        assert http.get("/api/v1/agent/desired").status_code == 401
