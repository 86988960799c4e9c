"""An agent's outbox in one call (/agent/reports), many agents per transaction, and
check-ins that wait for a change (?wait=)."""

from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from golive.agents.batch import GroupWriter, ReportCall
from golive.agents.schemas import Report
from tests.agents.conftest import Fleet, StandInAgent

AT = "2026-12-01T10:00:00Z"


def _outbox(agent: StandInAgent, body: dict[str, Any]) -> httpx.Response:
    with agent.http() as http:
        return http.post("/api/v1/agent/reports", json=body)


def _steps(assignment_id: int, *states: str) -> list[dict[str, Any]]:
    return [{"assignment_id": assignment_id, "state": state, "at": AT} for state in states]


def _inventory(fleet: Fleet, version: str) -> dict[str, Any]:
    digest = fleet.versions[version]
    return {
        "installed": [
            {
                "component": "shop",
                "version": version,
                "digest": digest,
                "release": f"{version}-{digest[:8]}",
            }
        ],
        "unauthorised": [],
    }


def _shown(fleet: Fleet, path: str) -> dict[str, Any]:
    with fleet.live.client("auditor") as http:
        answer = http.get(path)
    assert answer.status_code == 200, answer.text
    shown: dict[str, Any] = answer.json()
    return shown


def test_an_outbox_in_one_call_records_every_move_and_the_inventory(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    number = fleet.assign("web-01", "1.0")
    assert agent.desired().status_code == 200
    seen = agent.etag
    inventory = _inventory(fleet, "1.0")
    steps = _steps(number, "downloading", "installing", "verifying", "succeeded")
    answer = _outbox(agent, {"reports": steps, "inventory": inventory, "etag": seen})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["results"] == [{"assignment_id": number, "state": s["state"]} for s in steps]
    # Nothing but these reports moved the desired state: the new ETag may be kept, and
    # the next check-in with it is a 304.
    assert body["etag"] not in (None, seen)
    agent.etag = body["etag"]
    agent.inventory_digest = body["inventory_digest"]
    assert agent.desired().status_code == 304

    shown = _shown(fleet, f"/api/v1/assignments/{number}")
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
    assert {e["actor"] for e in shown["events"][2:]} == {"agent:web-01"}
    installed = _shown(fleet, "/api/v1/targets/web-01/installed")
    [record] = installed["installed"]
    assert (record["version"], record["assignment_id"], record["matches"]) == ("1.0", number, True)
    for state in ("downloading", "installing", "verifying", "succeeded"):
        [event] = fleet.audit_actions(f"assignment.{state}")
        assert event["subject_id"] == str(number)
    assert len(fleet.audit_actions("agent.inventory")) == 1
    assert _shown(fleet, "/api/v1/audit/verify")["ok"] is True

    # The same outbox again (the answer was lost): what is past is a conflict the agent
    # drops, the final state is taken again, and nothing new is written.
    again = _outbox(agent, {"reports": steps, "inventory": inventory}).json()["results"]
    assert [result.get("error", {}).get("status") for result in again] == [409, 409, 409, None]
    assert again[3] == {"assignment_id": number, "state": "succeeded"}
    assert len(fleet.audit_actions("assignment.succeeded")) == 1
    assert len(fleet.audit_actions("agent.inventory")) == 1


def test_a_refused_report_is_refused_alone(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    other = fleet.agent("web-02")
    number = fleet.assign("web-01", "1.0")
    theirs = fleet.assign("web-02", "1.0")
    agent.desired()
    other.desired()
    reports = [
        *_steps(number, "downloading"),
        *_steps(number, "succeeded"),  # not from downloading
        *_steps(theirs, "downloading"),  # another target's assignment
        {"assignment_id": number, "state": "skipped"},  # the server's, not an agent's
        *_steps(number, "installing"),
    ]
    answer = _outbox(agent, {"reports": reports})
    assert answer.status_code == 200, answer.text
    results = answer.json()["results"]
    assert results[0] == {"assignment_id": number, "state": "downloading"}
    assert results[1]["error"]["status"] == 409
    assert "downloading and cannot become succeeded" in results[1]["error"]["message"]
    assert results[2]["error"]["status"] == 404
    assert results[3]["error"]["status"] == 422
    assert results[4] == {"assignment_id": number, "state": "installing"}
    assert _shown(fleet, f"/api/v1/assignments/{number}")["state"] == "installing"
    assert _shown(fleet, f"/api/v1/assignments/{theirs}")["state"] == "dispatched"
    assert fleet.audit_actions("assignment.succeeded") == []


def test_bad_calls_change_nothing(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    number = fleet.assign("web-01", "1.0")
    agent.desired()
    before = len(fleet.audit_actions("assignment.downloading"))
    with agent.http() as http:
        not_json = http.post(
            "/api/v1/agent/reports",
            content=b"{",
            headers={"Content-Type": "application/json"},
        )
        wrong = http.post("/api/v1/agent/reports", json={"reports": [{"state": "downloading"}]})
        extra = http.post("/api/v1/agent/reports", json={"reports": [], "surprise": 1})
    assert not_json.status_code == 422
    assert "JSON" in not_json.json()["error"]["message"]
    assert wrong.status_code == 422
    assert "assignment_id" in wrong.json()["error"]["message"]
    assert extra.status_code == 422
    anonymous = httpx.post(
        f"{fleet.live.url}/api/v1/agent/reports", json={"reports": _steps(number, "downloading")}
    )
    assert anonymous.status_code == 401
    assert _shown(fleet, f"/api/v1/assignments/{number}")["state"] == "dispatched"
    assert len(fleet.audit_actions("assignment.downloading")) == before


def test_the_etag_is_withheld_when_something_else_changed(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.add_version("2.0", component="docs")
    agent = fleet.agent()
    shop = fleet.assign("web-01", "1.0")
    agent.desired()
    seen = agent.etag
    docs = fleet.assign("web-01", "2.0", component="docs")  # the agent has not seen it
    answer = _outbox(agent, {"reports": _steps(shop, "downloading"), "etag": seen})
    assert answer.status_code == 200, answer.text
    assert answer.json()["etag"] is None
    fresh = agent.desired()
    assert fresh.status_code == 200
    assert [a["id"] for a in fresh.json()["assignments"]] == [shop, docs]


def test_many_agents_at_once_lose_nothing_and_the_chain_holds(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    token = fleet.enroll_token()
    agents = []
    for index in range(24):
        name = f"web-{index:02d}"
        registered = fleet.register(token, name).json()
        agents.append(StandInAgent(fleet.live.url, registered["credential"], name))
    numbers = {agent.name: fleet.assign(agent.name, "1.0") for agent in agents}
    for agent in agents:
        assert agent.desired().status_code == 200
    start = threading.Barrier(len(agents))

    def deliver(agent: StandInAgent) -> int:
        steps = _steps(numbers[agent.name], "downloading", "installing", "verifying")
        start.wait()
        first = _outbox(agent, {"reports": steps}).status_code
        done = _outbox(agent, {"reports": _steps(numbers[agent.name], "succeeded")})
        return first if first != 200 else done.status_code

    with ThreadPoolExecutor(len(agents)) as pool:
        assert set(pool.map(deliver, agents)) == {200}
    for agent in agents:
        assert _shown(fleet, f"/api/v1/assignments/{numbers[agent.name]}")["state"] == "succeeded"
    assert len(fleet.audit_actions("assignment.succeeded")) == len(agents)
    assert len(fleet.audit_actions("assignment.downloading")) == len(agents)
    assert _shown(fleet, "/api/v1/audit/verify")["ok"] is True


def test_a_failing_batch_is_applied_call_by_call(fleet: Fleet) -> None:
    """One call that breaks the shared transaction fails alone; the others commit."""
    fleet.add_version("1.0")
    agent = fleet.agent()
    number = fleet.assign("web-01", "1.0")
    agent.desired()
    target_id = int(str(agent.etag).strip('"').split("-")[0])
    writer = GroupWriter(fleet.live.db)
    try:
        good = ReportCall(target_id, "web-01", [Report(assignment_id=number, state="downloading")])
        broken = ReportCall(10_000_000, "nobody", [])  # no such target: the batch fails
        answers = writer.apply_together([good, broken])
        assert answers[0].result(timeout=30).results == [
            {"assignment_id": number, "state": "downloading"}
        ]
        with pytest.raises(KeyError):
            answers[1].result(timeout=30)
    finally:
        writer.close()
    assert _shown(fleet, f"/api/v1/assignments/{number}")["state"] == "downloading"


def _waiting(agent: StandInAgent, wait: float) -> tuple[httpx.Response, float]:
    headers = {"If-None-Match": str(agent.etag)}
    began = time.monotonic()
    with agent.http() as http:
        answer = http.get("/api/v1/agent/desired", params={"wait": wait}, headers=headers)
    return answer, time.monotonic() - began


def test_a_waiting_check_in_answers_when_an_assignment_arrives(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    agent.desired()
    # Nothing changes: held for the time asked, then a 304.
    unchanged, seconds = _waiting(agent, 1.0)
    assert unchanged.status_code == 304
    assert 0.9 <= seconds < 5
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_waiting, agent, 20.0)
        time.sleep(0.5)
        assert not held.done()
        with fleet.live.client("admin") as http:
            metrics = http.get("/metrics").text
        assert "golive_agent_check_ins_waiting 1.0" in metrics
        number = fleet.assign("web-01", "1.0")
        answer, seconds = held.result(timeout=30)
    assert answer.status_code == 200, answer.text
    assert [a["id"] for a in answer.json()["assignments"]] == [number]
    assert answer.json()["assignments"][0]["state"] == "dispatched"
    assert seconds < 5, "the change should end the wait at once, not after 20 s"


def test_a_held_check_in_of_a_revoked_agent_is_refused_at_once(fleet: Fleet) -> None:
    # Authenticated when it arrived; revoked while it waited. It must not get an answer
    # with assignments (nor wait out its 20 s): revocation wakes it and it is refused.
    fleet.add_version("1.0")
    agent = fleet.agent()
    agent.desired()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_waiting, agent, 20.0)
        time.sleep(0.5)
        assert not held.done()
        with fleet.live.client("admin") as http:
            assert http.post("/api/v1/targets/web-01/revoke-agent").status_code == 200
        answer, seconds = held.result(timeout=30)
    assert answer.status_code == 401, answer.text
    assert answer.json()["error"]["code"] == "target_revoked"
    assert seconds < 5, "revocation should end the wait at once, not after 20 s"


def test_an_assignment_for_a_target_revoked_while_waiting_is_not_handed_out(
    fleet: Fleet,
) -> None:
    # Revoked, then given an assignment while its check-in is held: whichever wakes it,
    # the agent is identified again before anything is handed out.
    fleet.add_version("1.0")
    agent = fleet.agent()
    agent.desired()
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(_waiting, agent, 20.0)
        time.sleep(0.5)
        with fleet.live.client("admin") as http:
            assert http.post("/api/v1/targets/web-01/revoke-agent").status_code == 200
        number = fleet.assign("web-01", "1.0")
        answer, _seconds = held.result(timeout=30)
    assert answer.status_code == 401, answer.text
    with fleet.live.client("auditor") as http:
        shown = http.get(f"/api/v1/assignments/{number}").json()
    assert shown["state"] == "pending"


def test_wait_must_be_a_number_of_seconds_in_range(fleet: Fleet) -> None:
    agent = fleet.agent()
    with agent.http() as http:
        for wrong in ("soon", "-1", "61"):
            answer = http.get("/api/v1/agent/desired", params={"wait": wrong})
            assert answer.status_code == 422, wrong
            assert "wait must be" in answer.json()["error"]["message"]


def test_an_outbox_keeps_the_last_reason_and_output_given(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    number = fleet.assign("web-01", "1.0")
    agent.desired()
    reports = [
        *_steps(number, "downloading"),
        {**_steps(number, "installing")[0], "output": "unpacked 3 files"},
        {**_steps(number, "failed")[0], "reason": "disk full"},
    ]
    answer = _outbox(agent, {"reports": reports})
    assert [r.get("state") for r in answer.json()["results"]] == [
        "downloading",
        "installing",
        "failed",
    ]
    shown = _shown(fleet, f"/api/v1/assignments/{number}")
    assert (shown["state"], shown["reason"], shown["output"]) == (
        "failed",
        "disk full",
        "unpacked 3 files",
    )
    assert shown["finished_at"] is not None
    assert [e["output"] for e in shown["events"][2:]] == [None, "unpacked 3 files", None]
    [failed] = fleet.audit_actions("assignment.failed")
    assert failed["reason"] == "disk full"


def test_a_change_stamped_long_before_it_committed_still_wakes_its_waiter(fleet: Fleet) -> None:
    """A wave's transaction may stamp a target's change seconds before it commits; the
    watch's every-tenth read of all waiting targets finds it anyway."""
    from datetime import timedelta

    from sqlalchemy import update

    from golive.agents.models import AgentState
    from golive.agents.waiting import ChangeWatch
    from golive.db import utcnow

    agent = fleet.agent()
    assert agent.desired().status_code == 200
    target_id, generation = (int(part) for part in str(agent.etag).strip('"').split("-"))

    async def wait_for_the_change() -> tuple[bool, float]:
        watch = ChangeWatch(fleet.live.db, interval=0.05)
        waiting = asyncio.ensure_future(watch.wait(target_id, generation, None, 10))
        await asyncio.sleep(0.2)  # the watch has read once: the change is not there yet
        with fleet.live.db.writing() as session:
            session.execute(
                update(AgentState)
                .where(AgentState.target_id == target_id)
                .values(
                    desired_generation=generation + 1,
                    updated_at=utcnow() - timedelta(minutes=5),  # long before the overlap
                )
            )
        began = time.monotonic()
        woken = await waiting
        watch.close()
        return woken, time.monotonic() - began

    woken, seconds = asyncio.run(wait_for_the_change())
    assert woken
    assert seconds < 3, f"found after {seconds:.1f} s"
