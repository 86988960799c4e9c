"""Real golive-agent processes in temporary folders against the real golive server: enroll,
install, upgrade, roll back, remove, refuse a tampered or escaping artifact, and converge
after being killed at each instant, with the server's records checked after each.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from golive.agents import service
from golive.auth.service import SYSTEM
from golive.inventory.service import get_target
from golive.media.service import get_version
from tests.agent.conftest import REPO_ROOT, agent_process, current_of, releases_of, tar_gz
from tests.support.live import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}
HEALTHY = {
    "pre_install": 'echo "pre $GOLIVE_VERSION" >> "$GOLIVE_ROOT/hooks.log"',
    "post_install": 'echo "post $GOLIVE_VERSION" >> "$GOLIVE_ROOT/hooks.log"',
    "health_check": 'grep -q "version=$GOLIVE_VERSION" app.conf && echo healthy',
    "pre_rollback": 'echo "pre_rollback $GOLIVE_VERSION" >> "$GOLIVE_ROOT/hooks.log"',
}
FULL = ["pending", "dispatched", "downloading", "installing", "verifying", "succeeded"]


@dataclass
class Estate:
    """The server side as its users drive it: media API, enrollment tokens, assignments."""

    live: LiveServer
    root: Path
    token: str = ""
    digests: dict[str, str] = field(default_factory=dict)

    def add_version(
        self, version: str, content: bytes | None = None, component: str = "shop"
    ) -> str:
        data = (
            content
            if content is not None
            else tar_gz({"app.conf": f"version={version}\n".encode(), "bin/run.sh": b"exit 0\n"})
        )
        base = f"/api/v1/components/{component}/versions"
        with self.live.client("release_manager") as http:
            added = http.post(
                base,
                params={"version": version, "filename": f"{component}-{version}.tar.gz"},
                content=data,
                headers=OCTET,
            )
            assert added.status_code == 201, added.text
            approved = http.post(f"{base}/{version}/approve")
            assert approved.status_code == 200, approved.text
        digest: str = added.json()["digest"]
        self.digests[version] = digest
        return digest

    def release(self, version: str) -> str:
        return f"{version}-{self.digests[version][:8]}"

    def assign(
        self,
        version: str,
        *,
        action: str = "install",
        hooks: dict[str, str] | None = None,
        keep_releases: int = 3,
        target: str = "web-01",
    ) -> int:
        with self.live.db.writing() as session:
            created = service.create_assignment(
                session,
                SYSTEM,
                target=get_target(session, target),
                version=get_version(session, "shop", version),
                action=action,
                hooks=HEALTHY if hooks is None else hooks,
                hook_timeout_seconds=30,
                keep_releases=keep_releases,
            )
            return created.id

    def agent(self, *extra: str, crash_at: str | None = None) -> int:
        finished = agent_process(
            self.live.url, self.root, "--once", *extra, crash_at=crash_at, enroll_token=self.token
        )
        if crash_at is None:
            assert finished.returncode == 0, finished.stderr
        return finished.returncode

    def assignment(self, number: int) -> dict[str, Any]:
        with self.live.client("auditor") as http:
            answer = http.get(f"/api/v1/assignments/{number}")
        assert answer.status_code == 200, answer.text
        shown: dict[str, Any] = answer.json()
        return shown

    def states(self, number: int) -> list[str]:
        return [event["state"] for event in self.assignment(number)["events"]]

    def installed(self, target: str = "web-01") -> dict[str, Any]:
        with self.live.client("auditor") as http:
            answer = http.get(f"/api/v1/targets/{target}/installed")
        assert answer.status_code == 200, answer.text
        shown: dict[str, Any] = answer.json()
        return shown

    def installed_versions(self) -> dict[str, str]:
        return {item["component"]: item["version"] for item in self.installed()["installed"]}


@pytest.fixture
def estate(live: LiveServer, tmp_path: Path) -> Estate:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
        created = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
        assert created.status_code == 201
        answer = http.post(
            "/api/v1/agent/enrollment-tokens",
            json={"environment": "production", "labels": {"role": "web"}},
        )
        assert answer.status_code == 201, answer.text
    found = Estate(live, tmp_path / "agent", token=answer.json()["token"])
    found.agent()  # enroll
    return found


def test_install_upgrade_and_the_records_that_follow(estate: Estate) -> None:
    installed = estate.installed()
    assert installed["agent"]["enrolled"] is True
    assert installed["agent"]["facts"]["agent_version"] == "0.1.0"
    assert installed["inventory_digest"] is not None

    estate.add_version("1.0")
    first = estate.assign("1.0")
    estate.agent()
    assert estate.states(first) == FULL
    assert current_of(estate.root, "shop") == f"releases/{estate.release('1.0')}"
    assert "healthy" in estate.assignment(first)["output"]

    estate.add_version("2.0")
    second = estate.assign("2.0")
    estate.agent()
    assert estate.states(second) == FULL
    assert current_of(estate.root, "shop") == f"releases/{estate.release('2.0')}"
    assert releases_of(estate.root, "shop") == sorted(
        [estate.release("1.0"), estate.release("2.0")]
    )

    installed = estate.installed()
    assert [(i["component"], i["version"], i["matches"]) for i in installed["installed"]] == [
        ("shop", "2.0", True)
    ]
    assert installed["installed"][0]["reported"]["release"] == estate.release("2.0")
    assert installed["unauthorised"] == []

    log = (estate.root / "hooks.log").read_text().splitlines()
    assert log == ["pre 1.0", "post 1.0", "pre 2.0", "post 2.0"]

    # Nothing changed: the next check-in is a 304 and the agent does nothing.
    estate.agent()
    assert estate.states(second) == FULL


def test_a_failed_health_check_rolls_back(estate: Estate) -> None:
    estate.add_version("1.0")
    estate.assign("1.0")
    estate.agent()
    estate.add_version("2.0")
    number = estate.assign("2.0", hooks=dict(HEALTHY, health_check="echo 'no pulse'; exit 4"))
    estate.agent()

    shown = estate.assignment(number)
    assert shown["state"] == "rolled_back"
    assert shown["events"][-1]["reason"] == "health_check exited with 4; rolled back"
    assert "no pulse" in shown["output"]
    assert current_of(estate.root, "shop") == f"releases/{estate.release('1.0')}"
    assert releases_of(estate.root, "shop") == [estate.release("1.0")]
    assert estate.installed_versions() == {"shop": "1.0"}
    assert "pre_rollback 2.0" in (estate.root / "hooks.log").read_text()


def test_removal(estate: Estate) -> None:
    estate.add_version("1.0")
    estate.assign("1.0")
    estate.agent()
    assert estate.installed_versions() == {"shop": "1.0"}
    number = estate.assign("1.0", action="remove")
    estate.agent()
    assert estate.states(number) == FULL
    assert not (estate.root / "components" / "shop").exists()
    installed = estate.installed()
    assert installed["installed"] == []
    assert installed["unrecorded"] == []


def test_a_tampered_artifact_is_refused(estate: Estate) -> None:
    digest = estate.add_version("1.0")
    blob = estate.live.settings_home / "blobs" / "sha256" / digest[:2] / digest
    blob.chmod(0o644)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0x01
    blob.write_bytes(bytes(data))

    number = estate.assign("1.0")
    estate.agent()
    shown = estate.assignment(number)
    assert shown["state"] == "failed"
    assert "does not match its signed length and sha256" in shown["events"][-1]["reason"]
    assert current_of(estate.root, "shop") is None
    assert not (estate.root / "hooks.log").exists()
    assert estate.installed_versions() == {}


def test_a_path_escaping_archive_is_refused(estate: Estate) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for name in ("app.conf", "../../../escaped.txt"):
            info = tarfile.TarInfo(name)
            info.size = 4
            archive.addfile(info, io.BytesIO(b"evil"))
    estate.add_version("6.6.6", buffer.getvalue())
    number = estate.assign("6.6.6")
    estate.agent()
    shown = estate.assignment(number)
    assert shown["state"] == "failed"
    reason = shown["events"][-1]["reason"]
    assert reason == "refused archive entry '../../../escaped.txt': it has a '..' segment"
    assert current_of(estate.root, "shop") is None
    assert releases_of(estate.root, "shop") == []
    assert not any(p.name == "escaped.txt" for p in estate.root.parent.rglob("escaped.txt"))


def test_an_unauthorised_current_is_recorded_by_the_server(estate: Estate) -> None:
    estate.add_version("1.0")
    estate.assign("1.0")
    estate.agent()
    shop = estate.root / "components" / "shop"
    (shop / "releases" / "evil").mkdir()
    (shop / "current").unlink()
    (shop / "current").symlink_to("releases/evil")
    estate.agent()
    installed = estate.installed()
    assert installed["has_unauthorised"] is True
    assert installed["unauthorised"] == [
        {
            "component": "shop",
            "current": "releases/evil",
            "reason": "current points to releases/evil, which golive-agent did not install",
        }
    ]
    assert os.readlink(shop / "current") == "releases/evil"


def test_a_revoked_agent_stops_with_exit_code_3(estate: Estate) -> None:
    with estate.live.client() as http:
        assert http.post("/api/v1/targets/web-01/revoke-agent").status_code == 200
    finished = agent_process(estate.live.url, estate.root, "--poll-interval", "0.2")
    assert finished.returncode == 3
    assert "revoked this target's credential" in finished.stderr


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["download", "unpack", "switch"])
def test_killed_at_each_instant_the_agent_converges(estate: Estate, crash_at: str) -> None:
    estate.add_version("1.0")
    estate.assign("1.0")
    estate.agent()
    files = {f"data/{n}.bin": os.urandom(200_000) for n in range(6)}
    files["app.conf"] = b"version=2.0\n"
    estate.add_version("2.0", tar_gz(files))
    number = estate.assign("2.0")

    assert estate.agent(crash_at=crash_at) == 137
    running = estate.release("2.0") if crash_at == "switch" else estate.release("1.0")
    assert current_of(estate.root, "shop") == f"releases/{running}"
    assert (estate.root / "components" / "shop" / "current" / "app.conf").is_file()
    assert estate.assignment(number)["state"] != "succeeded"

    estate.agent()
    assert estate.states(number) == FULL
    assert current_of(estate.root, "shop") == f"releases/{estate.release('2.0')}"
    conf = estate.root / "components" / "shop" / "current" / "app.conf"
    assert conf.read_text() == "version=2.0\n"
    assert releases_of(estate.root, "shop") == sorted(
        [estate.release("1.0"), estate.release("2.0")]
    )
    installed = estate.installed()
    assert [(i["version"], i["matches"]) for i in installed["installed"]] == [("2.0", True)]
    assert installed["unauthorised"] == []


@pytest.mark.slow
def test_killed_after_the_switch_an_unhealthy_release_is_rolled_back_on_restart(
    estate: Estate,
) -> None:
    estate.add_version("1.0")
    estate.assign("1.0")
    estate.agent()
    estate.add_version("2.0")
    number = estate.assign("2.0", hooks=dict(HEALTHY, health_check="exit 1"))

    assert estate.agent(crash_at="switch") == 137
    assert current_of(estate.root, "shop") == f"releases/{estate.release('2.0')}"
    estate.agent()
    assert estate.states(number) == [*FULL[:-1], "rolled_back"]
    assert current_of(estate.root, "shop") == f"releases/{estate.release('1.0')}"
    assert releases_of(estate.root, "shop") == [estate.release("1.0")]
    assert estate.installed_versions() == {"shop": "1.0"}


def _held_check_ins(live: LiveServer) -> float:
    with live.client() as http:
        metrics = http.get("/metrics").text
    line = next(x for x in metrics.splitlines() if x.startswith("golive_agent_check_ins_waiting"))
    return float(line.split()[-1])


def test_a_running_agent_waits_and_hears_of_an_assignment_at_once(estate: Estate) -> None:
    # The agent's check-ins are held by the server (poll interval 30 s: waits of 30 s);
    # a new assignment is installed within seconds, not at the next poll.
    estate.add_version("1.0")
    command = [sys.executable, "-m", "golive.agent", "run", "--server", estate.live.url]
    command += ["--root", str(estate.root), "--poll-interval", "30"]
    agent = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while _held_check_ins(estate.live) < 1:
            assert time.monotonic() < deadline, "the agent's check-in was never held"
            time.sleep(0.05)
        number = estate.assign("1.0")
        assigned = time.monotonic()
        while estate.assignment(number)["state"] != "succeeded":
            assert time.monotonic() - assigned < 10, "not installed at once"
            time.sleep(0.05)
        assert time.monotonic() - assigned < 5
        agent.terminate()
        stopping = time.monotonic()
        _, errors = agent.communicate(timeout=30)
        assert time.monotonic() - stopping < 5  # a held check-in does not delay the stop
    finally:
        agent.kill()
    assert agent.returncode == 0, errors
    assert estate.states(number) == FULL
    assert estate.installed_versions() == {"shop": "1.0"}
