"""A fleet of REAL golive-agent processes (as tests/agent/test_agent_integration.py runs
them) in temporary folders, enrolled into the live server's production environment.

Each agent runs one cycle per call (``--once``): check in, carry out what it was given,
report, send its inventory. Between calls the server's engine (inside the live server,
ticking every 0.1 s) moves the deployment on. ``Fleet.running`` runs agents as a service
would instead, polling until stopped.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from golive.settings import Settings
from tests.agent.conftest import REPO_ROOT, agent_process, tar_gz
from tests.support.live import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}
NAMES = ("web-01", "web-02", "web-03")
FINAL = {"succeeded", "failed", "rolled_back", "aborted"}
# Healthy when the release holds the version it claims and the target is not marked sick.
HOOKS = {
    "health_check": 'grep -q "version=$GOLIVE_VERSION" app.conf && test ! -e "$GOLIVE_ROOT/sick"',
}

Shown = dict[str, Any]


def fleet_settings(tmp_path: Path, database_url: str) -> Settings:
    """Server settings with a fast engine tick, so a test waits little between waves."""
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, database_url=database_url, deploy_tick_seconds=0.1)


class Fleet:
    """Three agent targets (``NAMES``) of environment production and component ``shop``."""

    def __init__(self, live: LiveServer, root: Path, token: str) -> None:
        self.live = live
        self.root = root
        self.token = token
        self.digests: dict[str, str] = {}

    @classmethod
    def enrolled(cls, live: LiveServer, root: Path) -> Fleet:
        """Create production and ``shop``, then enroll every agent of ``NAMES``."""
        with live.client() as http:
            made = http.post("/api/v1/environments", json={"name": "production"})
            assert made.status_code == 201, made.text
            made = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
            assert made.status_code == 201, made.text
            answer = http.post(
                "/api/v1/agent/enrollment-tokens",
                json={"environment": "production", "labels": {"role": "web"}},
            )
            assert answer.status_code == 201, answer.text
        fleet = cls(live, root, answer.json()["token"])
        fleet.run_agents()
        return fleet

    def folder(self, name: str) -> Path:
        return self.root / name

    def run_agents(self, names: Iterable[str] = NAMES) -> None:
        """One cycle of each named agent, one after the other (each a real process).

        Not in parallel: the agents' start-up is CPU-bound, and in sequence the engine
        moves on while the later agents start.
        """
        for name in names:
            finished = agent_process(
                self.live.url, self.folder(name), "--once", enroll_token=self.token, name=name
            )
            assert finished.returncode == 0, f"{name}: {finished.stderr}"

    @contextmanager
    def running(self, names: Iterable[str], poll_interval: float = 0.2) -> Iterator[None]:
        """The named agents run as a service runs them (polling every ``poll_interval``
        seconds) until the block ends; then each is stopped with SIGTERM and must exit 0."""
        env = {k: v for k, v in os.environ.items() if k != "GOLIVE_AGENT_CRASH_AT"}
        started: dict[str, subprocess.Popen[bytes]] = {}
        try:
            for name in names:
                command = [sys.executable, "-m", "golive.agent", "run", "--server", self.live.url]
                command += ["--root", str(self.folder(name)), "--name", name]
                command += ["--poll-interval", str(poll_interval)]
                with (self.root / f"{name}.log").open("ab") as log:
                    started[name] = subprocess.Popen(
                        command, env=env, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT
                    )
            yield
        finally:
            for process in started.values():
                process.terminate()
            for process in started.values():
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for name, process in started.items():
            log_text = (self.root / f"{name}.log").read_text(errors="replace")
            assert process.returncode == 0, f"{name} exited {process.returncode}: {log_text}"

    def add_version(self, version: str) -> None:
        data = tar_gz({"app.conf": f"version={version}\n".encode()})
        base = "/api/v1/components/shop/versions"
        with self.live.client("release_manager") as http:
            added = http.post(
                base,
                params={"version": version, "filename": f"shop-{version}.tar.gz"},
                content=data,
                headers=OCTET,
            )
            assert added.status_code == 201, added.text
            assert http.post(f"{base}/{version}/approve").status_code == 200
        self.digests[version] = added.json()["digest"]

    def release(self, version: str) -> str:
        """What ``current`` points to on a target running ``version``."""
        return f"releases/{version}-{self.digests[version][:8]}"

    def deploy(self, role: str = "deployment_manager", **body: Any) -> int:
        with self.live.client(role) as http:
            created = http.post(
                "/api/v1/deployments",
                json={"environment": "production", "hooks": HOOKS, **body},
            )
        assert created.status_code == 201, created.text
        number: int = created.json()["id"]
        return number

    def show(self, number: int) -> Shown:
        with self.live.client("auditor") as http:
            shown: Shown = http.get(f"/api/v1/deployments/{number}").json()
        return shown

    def until(
        self,
        number: int,
        wanted: Callable[[Shown], bool],
        names: Iterable[str] = NAMES,
        rounds: int = 30,
    ) -> Shown:
        """Run the named agents, one cycle each, until the deployment shows ``wanted``."""
        chosen = tuple(names)
        for _ in range(rounds):
            # An agent has nothing to do before the engine has started the deployment.
            shown = self.wait_for(number, lambda s: s["state"] != "planned" or wanted(s))
            if wanted(shown):
                return shown
            self.run_agents(chosen)
        raise AssertionError(f"deployment {number} never got there: {self.show(number)}")

    def until_final(self, number: int, names: Iterable[str] = NAMES) -> Shown:
        return self.until(number, lambda shown: shown["state"] in FINAL, names)

    def wait_for(self, number: int, wanted: Callable[[Shown], bool], seconds: float = 20) -> Shown:
        """Poll the deployment, running no agent, until it shows ``wanted``."""
        deadline = time.monotonic() + seconds
        while True:
            shown = self.show(number)
            if wanted(shown):
                return shown
            if time.monotonic() > deadline:
                raise AssertionError(f"deployment {number} never got there: {shown}")
            time.sleep(0.05)

    def assignments(self, name: str) -> list[Shown]:
        """Every assignment the server ever made for target ``name``, newest first."""
        with self.live.client("auditor") as http:
            answer = http.get("/api/v1/assignments", params={"target": name})
        assert answer.status_code == 200, answer.text
        items: list[Shown] = answer.json()["items"]
        return items

    def history(self, name: str) -> list[Shown]:
        with self.live.client("auditor") as http:
            answer = http.get(f"/api/v1/targets/{name}/history")
        assert answer.status_code == 200, answer.text
        items: list[Shown] = answer.json()["items"]
        return items


def rows(shown: Shown) -> dict[str, Shown]:
    """Each target's row of a shown deployment, by target name."""
    return {row["target"]: row for wave in shown["waves"] for row in wave["targets"]}


def assignment_ids(shown: Shown) -> dict[str, list[int]]:
    """The ids of each target's assignments in a shown deployment."""
    return {name: [a["id"] for a in row["assignments"]] for name, row in rows(shown).items()}
