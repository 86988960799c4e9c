"""`golive up` with its demo fleet, run the way a user runs it: real `golive up` processes,
real `golive-agent` children enrolled over HTTP, real installs with the demo's hooks."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from golive.demo.layout import HOOKS, TARGETS
from tests.cli.test_local_commands import GOLIVE
from tests.support.live import SSL_CONTEXT
from tests.support.postgres import free_port

pytestmark = pytest.mark.slow
NAMES = sorted(t.name for t in TARGETS)


class Server:
    def __init__(self, url: str, home: Path) -> None:
        self.url = url
        self.headers = {"Authorization": f"Bearer {(home / 'admin.token').read_text().strip()}"}

    def get(self, path: str) -> Any:
        answer = httpx.get(
            f"{self.url}{path}", headers=self.headers, timeout=30, verify=SSL_CONTEXT
        )
        assert answer.status_code == 200, answer.text
        return answer.json()

    def post(self, path: str, body: dict[str, Any]) -> Any:
        answer = httpx.post(
            f"{self.url}{path}", headers=self.headers, json=body, timeout=30, verify=SSL_CONTEXT
        )
        assert answer.status_code == 201, answer.text
        return answer.json()

    def checked_in(self) -> list[str]:
        """The demo targets whose agent has enrolled and sent its inventory."""
        found = []
        for name in NAMES:
            agent = self.get(f"/api/v1/targets/{name}/installed")["agent"]
            if agent["enrolled"] and agent["last_report_at"]:
                found.append(name)
        return found

    def reported(self, component: str, name: str) -> bool:
        """Whether the target's agent reported what golive recorded as installed there."""
        installed = self.get(f"/api/v1/targets/{name}/installed")["installed"]
        return any(i["component"] == component and i["matches"] for i in installed)

    def audit_length(self) -> int:
        answer = httpx.get(f"{self.url}/api/v1/audit/export", headers=self.headers, timeout=30)
        return len(answer.text.splitlines())

    def deploy(self, version: str, environment: str) -> dict[str, Any]:
        body = {
            "versions": [f"demo-shop@{version}"],
            "environment": environment,
            "hooks": dict(HOOKS),
        }
        number = self.post("/api/v1/deployments", body)["id"]
        return wait_for(lambda: _final(self.get(f"/api/v1/deployments/{number}")))


def _final(shown: dict[str, Any]) -> dict[str, Any] | None:
    return shown if shown["state"] in ("succeeded", "failed", "rolled_back", "aborted") else None


def wait_for(check: Callable[[], Any], timeout: float = 120) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.3)


def agent_pids(home: Path) -> dict[str, int]:
    run = home / "demo" / "run"
    return {p.stem: int(p.read_text()) for p in run.glob("*.pid")} if run.is_dir() else {}


def _new_agents(home: Path, before: dict[str, int]) -> dict[str, int] | None:
    """All demo agents' pids once each was started anew (none of ``before``)."""
    found = agent_pids(home)
    if sorted(found) != NAMES or set(found.values()) & set(before.values()):
        return None
    return found


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rsplit(")", 1)[1].split()  # state, ppid, …


def is_alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def parent_of(pid: int) -> int:
    fields = _stat(pid)
    assert fields is not None
    return int(fields[1])


def credentials(home: Path) -> dict[str, str]:
    agents = home / "demo" / "agents"
    return {
        name: json.loads((agents / name / "state.json").read_text())["credential"] for name in NAMES
    }


@contextlib.contextmanager
def running(*args: str, port: int | None = None) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """`golive ARGS --port PORT` until the block ends (then SIGTERM), its output in a file."""
    port = port or free_port()
    home = Path(args[args.index("--home") + 1])
    home.parent.mkdir(parents=True, exist_ok=True)
    with (home.parent / "up.log").open("ab") as log:
        process = subprocess.Popen(
            [*GOLIVE, *args, "--port", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_for(lambda: process.poll() is not None or _answers(url), timeout=60)
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _answers(url: str) -> bool:
    try:
        return httpx.get(f"{url}/api/v1/health", timeout=1, verify=SSL_CONTEXT).status_code == 200
    except httpx.TransportError:
        return False


@contextlib.contextmanager
def no_strays(home: Path) -> Iterator[None]:
    """Whatever happens in the test, no agent it caused to start outlives it."""
    seen: set[int] = set()
    try:
        yield
    finally:
        seen.update(agent_pids(home).values())
        for pid in seen:
            cmdline = Path(f"/proc/{pid}/cmdline")
            with contextlib.suppress(OSError):
                if str(home).encode() in cmdline.read_bytes():
                    os.kill(pid, signal.SIGKILL)


def test_up_runs_the_fleet_a_second_up_reuses_it_and_stopping_up_stops_it(tmp_path: Path) -> None:
    home = tmp_path / "data"
    # The same port both times: agents enrolled with a server's URL keep it.
    port = free_port()
    with no_strays(home):
        with running("up", "--home", str(home), port=port) as (process, url):
            server = Server(url, home)
            wait_for(lambda: server.checked_in() == NAMES)
            pids = agent_pids(home)
            assert sorted(pids) == NAMES
            # One fleet per data folder: a second `golive up` on it refuses, and stops nothing.
            second = subprocess.run(
                [*GOLIVE, "up", "--home", str(home), "--port", str(free_port())],
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert second.returncode == 1, second.stdout + second.stderr
            assert "another golive up runs the demo fleet" in second.stderr
            assert all(is_alive(pid) and parent_of(pid) == process.pid for pid in pids.values())
            environments = server.get("/api/v1/environments")["items"]
            assert [e["name"] for e in environments] == ["development", "test", "production"]
            versions = server.get("/api/v1/components/demo-shop/versions")["items"]
            assert {v["version"]: v["status"] for v in versions} == {
                "1.0.0": "approved",
                "1.1.0": "approved",
                "1.2.0-bad": "approved",
            }
            # The agents install for real, and the health check runs on them.
            shown = server.deploy("1.0.0", "development")
            assert shown["state"] == "succeeded", shown
            assert shown["counts"] == {"succeeded": 3}
            wait_for(lambda: all(server.reported("demo-shop", name) for name in NAMES[:3]))
            enrolled = credentials(home)
            length = server.audit_length()
        # SIGTERM stopped `golive up`, and with it every agent.
        assert process.returncode is not None
        assert not any(is_alive(pid) for pid in pids.values())
        assert agent_pids(home) == {}

        with running("up", "--home", str(home), port=port) as (process, url):
            server = Server(url, home)
            again = wait_for(lambda: _new_agents(home, pids))
            time.sleep(3)  # several polls of every agent
            # Nothing was created again: no tokens, no registrations, no records at all.
            assert server.audit_length() == length
            assert credentials(home) == enrolled
            assert len(server.get("/api/v1/components/demo-shop/versions")["items"]) == 3
            assert len(server.get("/api/v1/targets?label=fleet=demo")["items"]) == 12
            # The same agents carry on: an upgrade on the reused fleet.
            shown = server.deploy("1.1.0", "development")
            assert shown["state"] == "succeeded", shown
            where = server.get("/api/v1/components/demo-shop/where")["environments"]
            assert where[0]["versions"] == {"1.1.0": 3}
            # Ctrl-C (SIGINT) stops `golive up` and the agents too.
            process.send_signal(signal.SIGINT)
            process.wait(timeout=60)
        assert not any(is_alive(pid) for pid in again.values())
        assert agent_pids(home) == {}


def test_no_demo_leaves_the_fleet_out(tmp_path: Path) -> None:
    home = tmp_path / "data"
    with running("up", "--home", str(home), "--no-demo") as (process, url):
        assert process.poll() is None
        server = Server(url, home)
        assert server.get("/api/v1/environments")["items"] == []
        assert server.get("/api/v1/targets")["items"] == []
    assert not (home / "demo").exists()


def test_agents_left_running_by_a_killed_up_are_stopped_by_the_next(tmp_path: Path) -> None:
    home = tmp_path / "data"
    with no_strays(home):
        with running("up", "--home", str(home)) as (process, _url):
            orphans = wait_for(lambda: _new_agents(home, {}))
            process.kill()  # no chance to stop its agents
            process.wait()
        assert all(is_alive(pid) for pid in orphans.values())
        with running("up", "--home", str(home)) as (process, _url):
            wait_for(lambda: not any(is_alive(pid) for pid in orphans.values()), timeout=60)
            fresh = wait_for(lambda: _new_agents(home, orphans))
            assert all(parent_of(pid) == process.pid for pid in fresh.values())
            # An agent that dies unexpectedly is started again.
            os.kill(fresh["test-web-02"], signal.SIGKILL)
            wait_for(lambda: agent_pids(home).get("test-web-02") not in (None, *fresh.values()))
            restarted_pid = agent_pids(home)["test-web-02"]
            assert is_alive(restarted_pid)
            assert parent_of(restarted_pid) == process.pid
            fresh["test-web-02"] = restarted_pid
        assert not any(is_alive(pid) for pid in fresh.values())
