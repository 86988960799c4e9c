"""Reports over HTTP: the transition table, idempotent retries, and what gets recorded."""

from __future__ import annotations

from typing import Any

from tests.agents.conftest import Fleet, StandInAgent

INSTALL_STEPS = ["downloading", "installing", "verifying"]


def _installed(fleet: Fleet, target: str = "web-01") -> dict[str, Any]:
    with fleet.live.client("deployer") as http:
        answer = http.get(f"/api/v1/targets/{target}/installed")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def _assignment(fleet: Fleet, assignment_id: int) -> dict[str, Any]:
    with fleet.live.client("auditor") as http:
        answer = http.get(f"/api/v1/assignments/{assignment_id}")
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def _run(agent: StandInAgent, assignment_id: int, *states: str) -> None:
    for state in states:
        answer = agent.report(assignment_id, state)
        assert answer.status_code == 200, f"{state}: {answer.text}"
        assert answer.json() == {"assignment_id": assignment_id, "state": state}


def test_succeeded_records_installed_and_history(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    first = fleet.assign("web-01", "1.0")
    agent.desired()
    _run(agent, first, *INSTALL_STEPS)
    # An idempotent retry changes nothing and writes nothing.
    events_before = len(fleet.audit_actions("assignment.verifying"))
    _run(agent, first, "verifying")
    assert len(fleet.audit_actions("assignment.verifying")) == events_before
    _run(agent, first, "succeeded")
    _run(agent, first, "succeeded")  # the response to the first was lost: same answer
    late = agent.report(first, "failed", reason="too late")
    assert late.status_code == 409
    assert "succeeded and cannot become failed" in late.json()["error"]["message"]

    [record] = _installed(fleet)["installed"]
    assert record["component"] == "shop"
    assert record["version"] == "1.0"
    assert record["digest"] == fleet.versions["1.0"]
    assert record["assignment_id"] == first
    shown = _assignment(fleet, first)
    assert shown["state"] == "succeeded"
    assert shown["finished_at"] is not None
    assert [(e["from_state"], e["state"]) for e in shown["events"]] == [
        (None, "pending"),
        ("pending", "dispatched"),
        ("dispatched", "downloading"),
        ("downloading", "installing"),
        ("installing", "verifying"),
        ("verifying", "succeeded"),
    ]
    assert shown["events"][2]["actor"] == "agent:web-01"
    assert shown["events"][2]["reported_at"].startswith("2026-12-01T10:00:00")
    [audited] = fleet.audit_actions("assignment.succeeded")
    assert audited["subject_id"] == str(first)
    assert audited["after"]["version"] == "1.0"

    with fleet.live.db.reading() as session:
        from golive.agents.service import install_history

        history = [r.as_dict() for r in install_history(session, "web-01")]
    assert [(h["version"], h["action"], h["outcome"]) for h in history] == [
        ("1.0", "install", "succeeded")
    ]


def test_upgrade_rollback_keeps_the_old_and_remove_deletes(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.add_version("2.0")
    agent = fleet.agent()
    first = fleet.assign("web-01", "1.0")
    _run(agent, first, *INSTALL_STEPS, "succeeded")

    upgrade = fleet.assign("web-01", "2.0")
    _run(agent, upgrade, "downloading", "installing", "verifying")
    rolled = agent.report(upgrade, "rolled_back", reason="health check failed", output="503\n")
    assert rolled.status_code == 200
    [record] = _installed(fleet)["installed"]
    assert (record["version"], record["assignment_id"]) == ("1.0", first)
    shown = _assignment(fleet, upgrade)
    assert shown["reason"] == "health check failed"
    assert shown["output"] == "503\n"
    assert shown["events"][-1]["output"] == "503\n"

    failed = fleet.assign("web-01", "2.0")
    _run(agent, failed, "failed")  # any unfinished state may fail
    assert _installed(fleet)["installed"][0]["version"] == "1.0"

    removal = fleet.assign("web-01", "1.0", action="remove")
    _run(agent, removal, *INSTALL_STEPS, "succeeded")
    assert _installed(fleet)["installed"] == []

    with fleet.live.db.reading() as session:
        from golive.agents.service import install_history

        history = [r.as_dict() for r in install_history(session, "web-01")]
    assert [(h["version"], h["action"], h["outcome"]) for h in history] == [
        ("1.0", "remove", "succeeded"),
        ("2.0", "install", "failed"),
        ("2.0", "install", "rolled_back"),
        ("1.0", "install", "succeeded"),
    ]


def test_moves_the_table_refuses_and_reports_that_make_no_sense(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    other = fleet.agent("web-02")
    assignment = fleet.assign("web-01", "1.0")
    skipped = agent.report(assignment, "verifying")
    assert skipped.status_code == 409
    error = skipped.json()["error"]
    assert error["details"]["allowed"] == ["downloading", "failed"]
    assert agent.report(assignment, "pending").status_code == 422
    assert agent.report(assignment, "skipped").status_code == 422
    assert agent.report(assignment, "exploded").status_code == 422
    assert other.report(assignment, "downloading").status_code == 404
    assert agent.report(9999, "downloading").status_code == 404
    assert _assignment(fleet, assignment)["state"] == "pending"


def test_hook_output_is_kept_to_64_kib(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    assignment = fleet.assign("web-01", "1.0")
    answer = agent.report(assignment, "failed", reason="pre_install", output="x" * 70_000)
    assert answer.status_code == 200
    assert len(_assignment(fleet, assignment)["output"]) == 65_536


def test_inventory_is_recorded_compared_and_unauthorised_audited(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    first = fleet.assign("web-01", "1.0")
    _run(agent, first, *INSTALL_STEPS, "succeeded")
    before = _installed(fleet)
    assert before["installed"][0]["matches"] is None  # nothing reported yet
    body = {
        "installed": [
            {"component": "zeta", "version": "9", "digest": "f" * 64, "release": "9-ffffffff"},
            {
                "component": "shop",
                "version": "1.0",
                "digest": fleet.versions["1.0"],
                "release": f"1.0-{fleet.versions['1.0'][:8]}",
            },
        ],
        "unauthorised": [
            {"component": "shop", "current": "releases/evil", "reason": "unknown release"}
        ],
    }
    answer = agent.send_inventory(body)
    assert answer.status_code == 200, answer.text
    shown = _installed(fleet)
    assert shown["installed"][0]["matches"] is True
    assert shown["installed"][0]["reported"]["release"].startswith("1.0-")
    assert [entry["component"] for entry in shown["unrecorded"]] == ["zeta"]
    assert shown["has_unauthorised"] is True
    assert shown["unauthorised"][0]["current"] == "releases/evil"
    assert shown["agent"]["facts"]["os"] == "linux"
    assert shown["agent"]["enrolled"] is True
    [flagged] = fleet.audit_actions("agent.unauthorised")
    assert flagged["after"]["unauthorised"][0]["current"] == "releases/evil"
    # The same inventory again records nothing new.
    assert agent.send_inventory(body).json()["digest"] == answer.json()["digest"]
    assert len(fleet.audit_actions("agent.inventory")) == 1

    drifted = {"installed": [{**body["installed"][1], "digest": "e" * 64}]}
    assert agent.send_inventory(drifted).status_code == 200
    shown = _installed(fleet)
    assert shown["installed"][0]["matches"] is False
    assert shown["has_unauthorised"] is False
    assert agent.send_inventory({"installed": [{"component": "x"}]}).status_code == 422
    assert agent.send_inventory({"installed": [], "extra": 1}).status_code == 422
