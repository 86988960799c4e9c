"""An SSH assignment whose executor dies mid-job is finished by the next one, once.

Real processes only: a `golive server` and a `golive worker` (SQLite), both running the
SSH executor, killed with SIGKILL while the target's health check runs over SSH against
a real sshd; then the server is started again on the same data.
"""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest

from golive.agents.service import create_assignment
from golive.auth.service import SYSTEM
from golive.cli.local import initialise
from golive.db import Database
from golive.errors import InvalidInputError
from golive.inventory.service import get_target
from golive.media.service import get_version
from golive.settings import Settings
from tests.deployments.executors.edge import edge_app, ssh_target
from tests.support.crash_rollout import GoliveProcess, start_server
from tests.support.postgres import free_port
from tests.support.sshd import SshServer

pytestmark = pytest.mark.slow
LEASE = {"GOLIVE_SSH_LEASE_SECONDS": "2"}


def _shown(http: httpx.Client, number: int) -> dict[str, Any]:
    answer = http.get(f"/api/v1/assignments/{number}")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def _resumptions(http: httpx.Client, number: int) -> list[dict[str, Any]]:
    answer = http.get(
        "/api/v1/audit/events",
        params={"action": "assignment.resume", "subject_id": str(number)},
    )
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()["items"]
    return found


def _until(http: httpx.Client, number: int, states: set[str], timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        shown = _shown(http, number)
        if shown["state"] in states:
            return shown
        assert time.monotonic() < deadline, f"assignment {number} stayed {shown['state']}"
        time.sleep(0.1)


def test_a_killed_servers_ssh_assignment_is_finished_by_the_next_once(
    sshd: SshServer, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    token = initialise(settings)
    assert token is not None
    remote = sshd.remote / f"interrupted-{uuid.uuid4().hex[:8]}"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(home, port, tmp_path / "server.log", LEASE)
    worker = GoliveProcess(
        ["worker", "--home", str(home), "--interval", "0.2"], tmp_path / "worker.log", LEASE
    ).start()
    db = Database(settings.database_url)
    try:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            ssh_target(http, sshd, "box-1", remote)
            edge_app(http)

            # The health check is slow on the first run only: it marks that it started.
            marker = remote / "first-check-ran"
            health = f"if [ -e {marker} ]; then test -f app.txt; else touch {marker}; sleep 30; fi"
            with db.writing() as session:
                number = create_assignment(
                    session,
                    SYSTEM,
                    target=get_target(session, "box-1"),
                    version=get_version(session, "edge-app", "1.0"),
                    hooks={"health_check": health},
                ).id
            _until(http, number, {"verifying"}, timeout=60)
            deadline = time.monotonic() + 30
            while not marker.exists():
                assert time.monotonic() < deadline, "the health check never started"
                time.sleep(0.05)
            # Three lease periods: the running job's renewals keep the other executor
            # (server or worker, whichever did not claim it) from claiming it again.
            time.sleep(6)
            assert _resumptions(http, number) == []
            assert _shown(http, number)["state"] == "verifying"
            assert worker.alive()
            server.kill()  # mid health check: no chance to record anything more
            worker.kill()

        server = start_server(home, port, tmp_path / "server.log", LEASE)
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:
            done = _until(http, number, {"succeeded", "failed", "rolled_back"}, timeout=90)
            assert done["state"] == "succeeded", done
            states = [event["state"] for event in done["events"]]
            assert states == [
                "pending",
                "dispatched",
                "downloading",
                "installing",
                "verifying",
                "succeeded",
            ]
            resumed = _resumptions(http, number)
            assert len(resumed) == 1
            assert resumed[0]["after"]["state"] == "verifying"
            installed = http.get("/api/v1/targets/box-1/installed").json()
            assert http.get("/api/v1/audit/verify").json()["ok"]
        assert [item["version"] for item in installed["installed"]] == ["1.0"]
        assert (remote / "components" / "edge-app" / "current" / "app.txt").read_text() == "v1"
    finally:
        server.stop()
        worker.stop()
        db.dispose()


@pytest.mark.parametrize("text", ["0", "-5", "soon"])
def test_a_bad_lease_is_refused(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    monkeypatch.setenv("GOLIVE_SSH_LEASE_SECONDS", text)
    with pytest.raises(InvalidInputError, match="GOLIVE_SSH_LEASE_SECONDS must be a number"):
        Settings.from_env(home=Path("x"))


def test_the_lease_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLIVE_SSH_LEASE_SECONDS", raising=False)
    assert Settings.from_env(home=Path("x")).ssh_lease_seconds == 60
    monkeypatch.setenv("GOLIVE_SSH_LEASE_SECONDS", "12.5")
    assert Settings.from_env(home=Path("x")).ssh_lease_seconds == 12.5
