"""End to end with REAL agent processes (as tests/agent/test_agent_integration.py runs them)
against the live server with its engine inside: a big bang, then a phased rollout whose
health check fails on one target and, with rollback_on_failure, puts every target back."""

from __future__ import annotations

from pathlib import Path

import pytest

from golive.settings import Settings
from tests.agent.conftest import current_of
from tests.deployments.fleet import NAMES, Fleet, fleet_settings
from tests.support.live import LiveServer


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fleet_settings(tmp_path, database_url)


@pytest.fixture
def fleet(live: LiveServer, tmp_path: Path) -> Fleet:
    return Fleet.enrolled(live, tmp_path / "fleet")


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
