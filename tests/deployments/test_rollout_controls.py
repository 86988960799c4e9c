"""A person's controls over a rollout, end to end with REAL agent processes against the
live server (its engine inside): confirmation between waves, pause and resume, retry of
the failed targets only, a removal deployment, and targets whose agent is not running.
Some controls go through the CLI, as a user would use them."""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from golive.settings import Settings
from tests.agent.conftest import current_of
from tests.conftest import Cli
from tests.deployments.fleet import FINAL, NAMES, Fleet, Shown, assignment_ids, fleet_settings, rows
from tests.support.live import LiveServer


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fleet_settings(tmp_path, database_url)


@pytest.fixture
def fleet(live: LiveServer, tmp_path: Path) -> Fleet:
    return Fleet.enrolled(live, tmp_path / "fleet")


def _states(shown: Shown) -> dict[str, str]:
    return {name: row["state"] for name, row in rows(shown).items()}


def _kinds(shown: Shown) -> list[str]:
    return [event["kind"] for event in shown["events"]]


def _as(cli: Cli, fleet: Fleet, role: str) -> Cli:
    cli.use(fleet.live.url, fleet.live.tokens[role])
    return cli


def _created(out: str) -> int:
    found = re.search(r"Created deployment (\d+)", out)
    assert found is not None, out
    return int(found.group(1))


def _waited_at_least(shown: Shown, seconds: int) -> None:
    started = datetime.fromisoformat(shown["waves"][0]["started_at"])
    finished = datetime.fromisoformat(shown["finished_at"])
    assert finished - started >= timedelta(seconds=seconds), shown


def test_confirm_waves_waits_for_a_deployment_manager(fleet: Fleet, cli: Cli) -> None:
    fleet.add_version("1.0")
    number = fleet.deploy(
        role="deployer", versions=["shop@1.0"], strategy="phased", waves="1", confirm_waves=True
    )
    shown = fleet.until(number, lambda s: s["state"] == "waiting_for_confirmation")
    assert _states(shown) == {
        "web-01": "succeeded",
        "web-02": "not_started",
        "web-03": "not_started",
    }
    fleet.run_agents()  # nobody has confirmed: the agents get nothing new
    for name in ("web-02", "web-03"):
        assert current_of(fleet.folder(name), "shop") is None
        assert fleet.assignments(name) == []

    with fleet.live.client("deployer") as http:
        refused = http.post(f"/api/v1/deployments/{number}/confirm", json={})
    assert refused.status_code == 403, refused.text
    assert refused.json()["error"]["details"]["roles_needed"] == ["admin", "deployment_manager"]
    code, _out, err = _as(cli, fleet, "deployer")("deployments", "confirm", str(number))
    assert code == 1
    assert "deployments:confirm needs one of the roles admin, deployment_manager" in err
    shown = fleet.show(number)
    assert shown["state"] == "waiting_for_confirmation"
    assert shown["confirmed"] == []

    code, out, err = _as(cli, fleet, "deployment_manager")(
        "deployments", "confirm", str(number), "--reason", "canary looks fine"
    )
    assert code == 0, err
    assert f"Deployment {number} confirmed its next wave" in out
    shown = fleet.until_final(number)
    assert shown["state"] == "succeeded", shown
    assert shown["counts"] == {"succeeded": 3}
    assert [wave["confirmed"] for wave in shown["waves"]] == [False, True]
    confirms = [e["detail"] for e in shown["events"] if e["kind"] == "confirm"]
    assert confirms == [{"by": "deployment-manager", "reason": "canary looks fine", "wave": 2}]
    for name in NAMES:
        assert current_of(fleet.folder(name), "shop") == fleet.release("1.0")


def test_pause_starts_nothing_new_and_resume_finishes(fleet: Fleet, cli: Cli) -> None:
    fleet.add_version("1.0")
    number = fleet.deploy(role="deployer", versions=["shop@1.0"], strategy="phased", waves="1")
    fleet.wait_for(number, lambda s: _states(s)["web-01"] == "pending")
    code, out, err = _as(cli, fleet, "deployer")(
        "deployments", "pause", str(number), "--reason", "watching the canary"
    )
    assert code == 0, err
    assert f"Deployment {number} paused (paused)" in out

    fleet.run_agents()  # web-01 carries out the assignment it already holds
    fleet.wait_for(number, lambda s: s["waves"][0]["finished_at"] is not None)
    time.sleep(0.5)  # several engine ticks while paused
    fleet.run_agents()
    shown = fleet.show(number)
    assert shown["state"] == "paused"
    assert shown["waves"][1]["started_at"] is None
    assert _states(shown) == {
        "web-01": "succeeded",
        "web-02": "not_started",
        "web-03": "not_started",
    }
    assert current_of(fleet.folder("web-01"), "shop") == fleet.release("1.0")
    for name in ("web-02", "web-03"):
        assert current_of(fleet.folder(name), "shop") is None
        assert fleet.assignments(name) == []

    code, out, err = _as(cli, fleet, "deployer")("deployments", "resume", str(number))
    assert code == 0, err
    assert f"Deployment {number} resumed (running)" in out
    shown = fleet.until_final(number)
    assert shown["state"] == "succeeded", shown
    assert shown["counts"] == {"succeeded": 3}
    kinds = _kinds(shown)
    assert kinds.index("pause") < kinds.index("resume")
    for name in NAMES:
        assert current_of(fleet.folder(name), "shop") == fleet.release("1.0")


def test_retry_reruns_only_the_failed_targets(fleet: Fleet, cli: Cli) -> None:
    fleet.add_version("1.0")
    (fleet.folder("web-02") / "sick").write_text("")
    number = fleet.deploy(versions=["shop@1.0"], strategy="phased", waves="2")
    shown = fleet.until_final(number)
    assert shown["state"] == "failed", shown
    assert _states(shown) == {
        "web-01": "succeeded",
        "web-02": "rolled_back",
        "web-03": "not_started",
    }
    assert shown["failures"][0]["target"] == "web-02"
    assert "health" in (shown["failures"][0]["reason"] or "")
    ids = assignment_ids(shown)
    kept = {name: fleet.assignments(name) for name in ("web-01", "web-02")}
    history = {name: fleet.history(name) for name in ("web-01", "web-02")}
    assert current_of(fleet.folder("web-02"), "shop") is None

    (fleet.folder("web-02") / "sick").unlink()  # the cause is fixed
    code, out, err = _as(cli, fleet, "deployer")("deployments", "retry", str(number))
    assert code == 0, err
    assert f"Deployment {number} retries its failed targets (running)" in out
    shown = fleet.until_final(number)
    assert shown["state"] == "succeeded", shown
    assert shown["counts"] == {"succeeded": 3}
    retries = [e["detail"]["targets"] for e in shown["events"] if e["kind"] == "retry"]
    assert retries == [["web-02"]]

    # The target that had succeeded was left alone: no new assignment, no new record.
    assert assignment_ids(shown)["web-01"] == ids["web-01"]
    assert fleet.assignments("web-01") == kept["web-01"]
    assert fleet.history("web-01") == history["web-01"]
    # The failed one ran again, once; its failed attempt stays on the record.
    again = fleet.assignments("web-02")
    assert [a["state"] for a in again] == ["succeeded", "rolled_back"]
    assert again[1:] == kept["web-02"]
    assert assignment_ids(shown)["web-02"] == [again[0]["id"]]
    assert fleet.history("web-02")[1:] == history["web-02"]
    assert fleet.history("web-02")[0]["outcome"] == "succeeded"
    for name in NAMES:
        assert current_of(fleet.folder(name), "shop") == fleet.release("1.0")

    with fleet.live.client("deployer") as http:
        nothing = http.post(f"/api/v1/deployments/{number}/retry", json={})
    assert nothing.status_code == 409, nothing.text


def test_removal_uninstalls_through_the_same_machinery(fleet: Fleet, cli: Cli) -> None:
    fleet.add_version("1.0")
    first = fleet.deploy(versions=["shop@1.0"], strategy="big_bang")
    assert fleet.until_final(first)["state"] == "succeeded"

    code, out, err = _as(cli, fleet, "deployment_manager")(
        "deploy",
        "shop@1.0",
        "--env",
        "production",
        "--targets",
        "web-01,web-02",
        "--strategy",
        "phased",
        "--waves",
        "1",
        "--remove",
    )
    assert code == 0, err
    number = _created(out)
    shown = fleet.until_final(number)
    assert shown["state"] == "succeeded", shown
    assert shown["action"] == "remove"
    assert shown["counts"] == {"succeeded": 2}
    assert [[row["target"] for row in wave["targets"]] for wave in shown["waves"]] == [
        ["web-01"],
        ["web-02"],
    ]

    fleet.run_agents()  # one more cycle: every agent has sent its inventory
    for name in ("web-01", "web-02"):
        assert not (fleet.folder(name) / "components" / "shop").exists()
    assert current_of(fleet.folder("web-03"), "shop") == fleet.release("1.0")
    with fleet.live.client("auditor") as http:
        where = http.get("/api/v1/components/shop/where").json()
        assert where["environments"][0]["versions"] == {"1.0": 1}
        assert [t["target"] for t in where["environments"][0]["targets"]] == ["web-03"]
        for name in ("web-01", "web-02"):
            installed = http.get(f"/api/v1/targets/{name}/installed").json()
            assert installed["installed"] == []
            assert installed["unrecorded"] == []  # the agent found nothing either
        assert http.get("/api/v1/targets/web-03/installed").json()["installed"][0]["matches"]
    for name in ("web-01", "web-02"):
        newest = fleet.history(name)[0]
        assert (newest["action"], newest["outcome"], newest["deployment_id"]) == (
            "remove",
            "succeeded",
            number,
        )
    assert fleet.history("web-03")[0]["deployment_id"] == first


def test_a_target_whose_agent_is_not_running_is_waited_for_then_skipped_or_failed(
    fleet: Fleet, cli: Cli
) -> None:
    for version in ("1.0", "2.0", "3.0"):
        fleet.add_version(version)
    running = ("web-01", "web-02")  # web-03's agent is not running
    deploy = ("deploy", "--env", "production", "--offline-timeout")
    _as(cli, fleet, "deployment_manager")
    with fleet.running(running):
        # Waited for: the deployment holds on while the offline timeout has not passed ...
        code, out, err = cli(*deploy, "1h", "shop@1.0")
        assert code == 0, err
        waiting = _created(out)
        shown = fleet.wait_for(
            waiting, lambda s: _states(s)["web-01"] == _states(s)["web-02"] == "succeeded"
        )
        assert shown["state"] == "running"
        assert _states(shown)["web-03"] == "pending"
        away = datetime.fromisoformat(rows(shown)["web-03"]["offline_since"])
        assert datetime.fromisoformat(shown["waiting_until"]) == away + timedelta(hours=1)
        assert rows(shown)["web-01"]["offline_since"] is None
        # ... and an agent that comes back within it is deployed to.
        with fleet.running(["web-03"]):
            shown = fleet.wait_for(waiting, lambda s: s["state"] in FINAL)
        assert shown["state"] == "succeeded", shown
        assert shown["counts"] == {"succeeded": 3}
        assert shown["waiting_until"] is None

        # Skipped once the timeout has passed (the default policy).
        code, out, err = cli(*deploy, "3s", "shop@2.0")
        assert code == 0, err
        skipping = _created(out)
        shown = fleet.wait_for(skipping, lambda s: s["state"] in FINAL)
        assert shown["state"] == "succeeded", shown
        assert _states(shown) == {"web-01": "succeeded", "web-02": "succeeded", "web-03": "skipped"}
        assert "offline for longer than 3s" in rows(shown)["web-03"]["reason"]
        _waited_at_least(shown, 3)

        # Failed instead, by policy: a failure like any other, over the wave's threshold.
        code, out, err = cli(*deploy, "3s", "--offline-policy", "fail", "shop@3.0")
        assert code == 0, err
        failing = _created(out)
        shown = fleet.wait_for(failing, lambda s: s["state"] in FINAL)
        assert shown["state"] == "failed", shown
        assert _states(shown) == {"web-01": "succeeded", "web-02": "succeeded", "web-03": "failed"}
        reason = rows(shown)["web-03"]["reason"]
        assert "offline for longer than 3s" in reason
        assert shown["failures"] == [{"target": "web-03", "wave": 1, "reason": reason}]
        _waited_at_least(shown, 3)

    fleet.run_agents(["web-03"])  # back too late: it finds nothing to do
    assert current_of(fleet.folder("web-03"), "shop") == fleet.release("1.0")
    assert [(a["version"], a["state"]) for a in fleet.assignments("web-03")] == [
        ("3.0", "failed"),
        ("2.0", "skipped"),
        ("1.0", "succeeded"),
    ]
    for name in running:
        assert current_of(fleet.folder(name), "shop") == fleet.release("3.0")
