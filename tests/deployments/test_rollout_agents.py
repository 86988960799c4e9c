"""End to end with REAL agent processes (as tests/agent/test_agent_integration.py runs them)
against the live server with its engine inside: a big bang, then a phased rollout whose
health check fails on one target and, with rollback_on_failure, puts every target back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from golive.settings import Settings
from tests.agent.conftest import agent_process, current_of, tar_gz
from tests.support.live import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}
NAMES = ("web-01", "web-02", "web-03")
FINAL = {"succeeded", "failed", "rolled_back", "aborted"}
# Healthy when the release holds the version it claims and the target is not marked sick.
HOOKS = {
    "health_check": 'grep -q "version=$GOLIVE_VERSION" app.conf && test ! -e "$GOLIVE_ROOT/sick"',
}


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, database_url=database_url, deploy_tick_seconds=0.1)


class Fleet:
    def __init__(self, live: LiveServer, root: Path, token: str) -> None:
        self.live = live
        self.root = root
        self.token = token
        self.digests: dict[str, str] = {}

    def folder(self, name: str) -> Path:
        return self.root / name

    def run_agents(self) -> None:
        for name in NAMES:
            finished = agent_process(
                self.live.url, self.folder(name), "--once", enroll_token=self.token, name=name
            )
            assert finished.returncode == 0, finished.stderr

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
        return f"releases/{version}-{self.digests[version][:8]}"

    def deploy(self, **body: Any) -> int:
        with self.live.client("deployment_manager") as http:
            created = http.post(
                "/api/v1/deployments",
                json={"environment": "production", "hooks": HOOKS, **body},
            )
        assert created.status_code == 201, created.text
        number: int = created.json()["id"]
        return number

    def show(self, number: int) -> dict[str, Any]:
        with self.live.client("auditor") as http:
            shown: dict[str, Any] = http.get(f"/api/v1/deployments/{number}").json()
        return shown

    def until_final(self, number: int, rounds: int = 30) -> dict[str, Any]:
        for _ in range(rounds):
            shown = self.show(number)
            if shown["state"] in FINAL:
                return shown
            self.run_agents()
        raise AssertionError(f"deployment {number} did not finish: {self.show(number)}")


@pytest.fixture
def fleet(live: LiveServer, tmp_path: Path) -> Fleet:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
        created = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
        assert created.status_code == 201
        answer = http.post(
            "/api/v1/agent/enrollment-tokens",
            json={"environment": "production", "labels": {"role": "web"}},
        )
        assert answer.status_code == 201, answer.text
    found = Fleet(live, tmp_path / "fleet", answer.json()["token"])
    found.run_agents()  # enroll
    return found


def test_big_bang_then_phased_with_a_failing_health_check_rolls_back(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.add_version("2.0")
    first = fleet.deploy(versions=["shop@1.0"], strategy="big_bang")
    shown = fleet.until_final(first)
    assert shown["state"] == "succeeded", shown
    assert shown["counts"] == {"succeeded": 3}
    for name in NAMES:
        assert current_of(fleet.folder(name), "shop") == fleet.release("1.0")

    (fleet.folder("web-03") / "sick").write_text("")
    second = fleet.deploy(
        versions=["shop@2.0"], strategy="phased", waves="1,2", rollback_on_failure=True
    )
    shown = fleet.until_final(second)
    assert shown["state"] == "rolled_back", shown
    assert [[row["target"] for row in wave["targets"]] for wave in shown["waves"]] == [
        ["web-01"],
        ["web-02"],
        ["web-03"],
    ]
    states = {row["target"]: row for wave in shown["waves"] for row in wave["targets"]}
    assert states["web-03"]["state"] == "rolled_back"
    assert states["web-01"]["rollback"] == "succeeded"
    assert states["web-02"]["rollback"] == "succeeded"
    for name in NAMES:
        assert current_of(fleet.folder(name), "shop") == fleet.release("1.0")
    with fleet.live.client("auditor") as http:
        where = http.get("/api/v1/components/shop/where").json()
        assert where["environments"][0]["versions"] == {"1.0": 3}
        history = http.get("/api/v1/targets/web-01/history").json()["items"]
        assert [(h["version"], h["outcome"]) for h in history[:2]] == [
            ("1.0", "succeeded"),
            ("2.0", "succeeded"),
        ]
        assert http.get("/api/v1/audit/verify").status_code == 200
