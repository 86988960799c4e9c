"""A fleet to test the agent protocol with: environments, a component with versions,
enrollment, and a stand-in agent that speaks the protocol over real HTTP."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from golive.agents import service
from golive.agents.models import Assignment
from golive.auth.service import SYSTEM
from golive.inventory.service import get_target
from golive.media.service import get_version
from tests.support.live import SSL_CONTEXT, LiveServer

OCTET = {"Content-Type": "application/octet-stream"}


def public_key_pem() -> str:
    """A fresh ed25519 public key as the agent sends it."""
    key = Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class StandInAgent:
    """Speaks the agent side of docs/agent-protocol.md (not the real agent)."""

    url: str
    credential: str
    name: str
    etag: str | None = None
    inventory_digest: str | None = None
    registered: dict[str, Any] = field(default_factory=dict)

    def http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.credential}"},
            timeout=30,
            verify=SSL_CONTEXT,
        )

    def desired(self, *, remember: bool = True) -> httpx.Response:
        headers = {}
        if self.etag is not None:
            headers["If-None-Match"] = self.etag
        if self.inventory_digest is not None:
            headers["X-Golive-Inventory"] = self.inventory_digest
        with self.http() as http:
            answer = http.get("/api/v1/agent/desired", headers=headers)
        if remember and answer.status_code == 200:
            self.etag = answer.headers["etag"]
        return answer

    def report(self, assignment_id: int, state: str, **extra: Any) -> httpx.Response:
        body = {"assignment_id": assignment_id, "state": state, "at": "2026-12-01T10:00:00Z"}
        body.update(extra)
        with self.http() as http:
            return http.post("/api/v1/agent/report", json=body)

    def send_inventory(self, body: dict[str, Any]) -> httpx.Response:
        with self.http() as http:
            return http.post("/api/v1/agent/inventory", json=body)


@dataclass
class Fleet:
    live: LiveServer
    versions: dict[str, str] = field(default_factory=dict)  # version -> digest

    def enroll_token(self, environment: str = "production", **extra: Any) -> str:
        with self.live.client("deployment_manager") as http:
            answer = http.post(
                "/api/v1/agent/enrollment-tokens",
                json={"environment": environment, "labels": {"role": "web"}, **extra},
            )
        assert answer.status_code == 201, answer.text
        token: str = answer.json()["token"]
        return token

    def register(
        self, token: str, name: str = "web-01", public_key: str | None = None
    ) -> httpx.Response:
        body = {
            "name": name,
            "public_key": public_key or public_key_pem(),
            "facts": {"hostname": name, "os": "linux", "agent_version": "0.1"},
        }
        with self.live.client(None, token=token) as http:
            return http.post("/api/v1/agent/register", json=body)

    def agent(self, name: str = "web-01", environment: str = "production") -> StandInAgent:
        answer = self.register(self.enroll_token(environment), name)
        assert answer.status_code == 201, answer.text
        body = answer.json()
        return StandInAgent(self.live.url, body["credential"], name, registered=body)

    def add_version(
        self, version: str, *, approve: bool = True, component: str = "shop"
    ) -> dict[str, Any]:
        base = f"/api/v1/components/{component}/versions"
        with self.live.client("release_manager") as http:
            added = http.post(
                base,
                params={"version": version},
                content=f"{component} build {version}".encode(),
                headers=OCTET,
            )
            assert added.status_code == 201, added.text
            if approve:
                approved = http.post(f"{base}/{version}/approve")
                assert approved.status_code == 200, approved.text
        shown: dict[str, Any] = added.json()
        self.versions[version] = shown["digest"]
        return shown

    def assign(
        self,
        target: str,
        version: str,
        *,
        action: str = "install",
        component: str = "shop",
        hooks: dict[str, str] | None = None,
    ) -> int:
        """What the deployment engine will do: create an assignment."""
        with self.live.db.writing() as session:
            created: Assignment = service.create_assignment(
                session,
                SYSTEM,
                target=get_target(session, target),
                version=get_version(session, component, version),
                action=action,
                hooks=hooks if hooks is not None else {"health_check": "true"},
            )
            return created.id

    def audit_actions(self, action: str) -> list[dict[str, Any]]:
        with self.live.client("auditor") as http:
            answer = http.get("/api/v1/audit/events", params={"action": action, "limit": 1000})
        items: list[dict[str, Any]] = answer.json()["items"]
        return items


@pytest.fixture
def fleet(live: LiveServer) -> Fleet:
    """Environments production (approved versions only) and dev (any), component shop."""
    with live.client() as http:
        for body in (
            {"name": "production"},
            {"name": "dev", "policy": {"approved_versions_only": False}},
        ):
            assert http.post("/api/v1/environments", json=body).status_code == 201
        for name in ("shop", "docs"):
            created = http.post("/api/v1/components", json={"name": name, "kind": "software"})
            assert created.status_code == 201
    return Fleet(live)
