"""The server carries out assignments of SSH targets itself, against a real sshd."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import asyncssh

from golive.agents.service import create_assignment
from golive.auth.service import SYSTEM
from golive.inventory.service import get_target
from golive.media.service import get_version
from tests.deployments.executors.edge import edge_app, ssh_target
from tests.support.live import LiveServer
from tests.support.sshd import SshServer


def _wait_finished(live: LiveServer, assignment_id: int, timeout: float = 90) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    with live.client() as http:
        while time.monotonic() < deadline:
            shown: dict[str, object] = http.get(f"/api/v1/assignments/{assignment_id}").json()
            if shown["state"] in ("succeeded", "failed", "rolled_back", "skipped"):
                return shown
            time.sleep(0.2)
    raise AssertionError(f"assignment {assignment_id} did not finish in {timeout} s")


def _assign(live: LiveServer, target: str, health: str = "test -f app.txt") -> int:
    with live.db.writing() as session:
        return create_assignment(
            session,
            SYSTEM,
            target=get_target(session, target),
            version=get_version(session, "edge-app", "1.0"),
            hooks={"health_check": health},
        ).id


def test_server_installs_over_ssh_and_refuses_a_wrong_host_key(
    live: LiveServer, sshd: SshServer
) -> None:
    remote = sshd.remote / f"dispatch-{uuid.uuid4().hex[:8]}"
    other_host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    with live.client() as http:
        ssh_target(http, sshd, "box-1", remote)
        ssh_target(
            http, sshd, "box-2", remote, known_hosts=f"[127.0.0.1]:{sshd.port} {other_host_key}"
        )
        edge_app(http)

    good = _wait_finished(live, _assign(live, "box-1"))
    assert good["state"] == "succeeded", good
    current = Path(remote) / "components" / "edge-app" / "current"
    assert (current / "app.txt").read_text() == "v1"
    states = [event["state"] for event in good["events"]]  # type: ignore[attr-defined]
    assert states == [
        "pending",
        "dispatched",
        "downloading",
        "installing",
        "verifying",
        "succeeded",
    ]
    with live.client() as http:
        installed = http.get("/api/v1/targets/box-1/installed").json()
    assert "1.0" in str(installed)

    refused = _wait_finished(live, _assign(live, "box-2"))
    assert refused["state"] == "failed"
    assert "does not match" in str(refused["reason"])


def test_ssh_settings_are_validated(live: LiveServer) -> None:
    with live.client() as http:
        http.post("/api/v1/environments", json={"name": "edge"})
        http.post("/api/v1/targets", json={"name": "agent-box", "environment": "edge"})
        http.post(
            "/api/v1/targets",
            json={
                "name": "ssh-box",
                "environment": "edge",
                "connection": "ssh",
                "address": "127.0.0.1",
            },
        )
        not_ssh = http.put(
            "/api/v1/targets/agent-box/ssh", json={"username": "root", "known_hosts": "x"}
        )
        assert not_ssh.status_code == 422
        bad_keys = http.put(
            "/api/v1/targets/ssh-box/ssh",
            json={"username": "root", "known_hosts": "not a key line"},
        )
        assert bad_keys.status_code == 422
        assert "known_hosts" in bad_keys.json()["error"]["message"]
        missing = http.get("/api/v1/targets/ssh-box/ssh")
        assert missing.status_code == 404
