"""Deployments under change control, the engine driven at explicit moments: the gate at
planning, waiting for a window, a freeze that holds the next wave, the emergency
override, the change implemented at the end, and the practice figures."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from golive.agents.rules import AssignmentState
from golive.audit.chain import AuditEvent
from golive.auth.roles import Role
from golive.auth.service import SYSTEM, Actor
from golive.changes import calendar, figures
from golive.changes import service as changes
from golive.changes.rules import Decision
from golive.changes.schemas import ChangeCreate, ModelCreate
from golive.db import Database, utcnow
from golive.deployments import engine, service, strategies
from golive.errors import PolicyError
from golive.inventory.models import Environment
from tests.deployments.conftest import at, build_estate, report_all

OK = AssignmentState.SUCCEEDED
DANA = Actor("dana", frozenset({Role.DEPLOYER}))
CAB = Actor("carol", frozenset({Role.CHANGE_AUTHORITY}))


@pytest.fixture
def estate(db: Database) -> Database:
    with db.writing() as session:
        build_estate(session)
        production = session.scalars(select(Environment)).one()
        production.policy = {**production.policy, "requires_change": True}
    return db


def _policy(db: Database, **policy: Any) -> None:
    with db.writing() as session:
        production = session.scalars(select(Environment)).one()
        production.policy = {**production.policy, **policy}


def _change(db: Database, *, decide: bool = True, **extra: Any) -> str:
    body = {
        "title": "shop 2",
        "environments": ["production"],
        "components": ["shop"],
        "planned_windows": [{"start": at(0).isoformat(), "end": at(86400).isoformat()}],
        "submit": True,
        **extra,
    }
    with db.writing() as session:
        ref = changes.create_change(
            session, DANA, ChangeCreate.model_validate(body, strict=False)
        ).ref
        if decide:
            changes.decide(session, CAB, ref, Decision.APPROVE)
    return ref


def _deploy(db: Database, change_ref: str | None, **options: Any) -> int:
    strategy = options.pop("strategy", "phased")
    with db.writing() as session:
        created = service.create_deployment(
            session,
            DANA,
            refs=[("shop", "2")],
            environment="production",
            names=(),
            params=strategies.parse_params(strategy, **options),
            change_ref=change_ref,
        )
        return created.id


def _show(db: Database, number: int) -> dict[str, Any]:
    with db.reading() as session:
        return service.describe(session, service.get_deployment(session, number))


def _window(db: Database, **definition: Any) -> None:
    with db.writing() as session:
        calendar.create_window(session, SYSTEM, {"tz": "UTC", **definition})


def _local(seconds: int) -> str:
    return at(seconds).replace(tzinfo=None).isoformat()


def _events(db: Database, action: str) -> list[AuditEvent]:
    with db.reading() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action)))


def test_production_refuses_work_without_an_authorised_change_that_covers_it(
    estate: Database,
) -> None:
    with pytest.raises(PolicyError, match="requires an authorised change"):
        _deploy(estate, None)
    submitted = _change(estate, decide=False)
    with pytest.raises(PolicyError, match="is submitted, not authorised; needs 1 more"):
        _deploy(estate, submitted)
    narrow = _change(estate, targets=["web-01"])
    with pytest.raises(PolicyError, match=r"does not cover .* web-02, web-03, web-04"):
        _deploy(estate, narrow)
    with estate.reading() as session:
        assert service.list_deployments(session, state=None, environment=None, limit=10,
                                        offset=0) == []  # fmt: skip
    number = _deploy(estate, _change(estate))
    assert _show(estate, number)["change_ref"].startswith("CHG-")


def test_a_standard_model_authorises_work_inside_its_scope(estate: Database) -> None:
    with estate.writing() as session:
        changes.create_model(
            session,
            CAB,
            ModelCreate(name="shop-patch", environments=["production"], components=["shop"]),
        )
    number = _deploy(estate, None)
    ref = _show(estate, number)["change_ref"]
    with estate.reading() as session:
        change = changes.get_change(session, ref)
        assert change.state == "authorised"
        assert change.model is not None
    [authorised] = _events(estate, "change.authorise")
    assert authorised.after == {
        "state": "authorised",
        "authorised_until": None,
        "by": "standard change model shop-patch",
    }


def test_the_deployment_waits_for_its_change_window_and_starts_by_itself(
    estate: Database,
) -> None:
    ref = _change(
        estate,
        planned_windows=[{"start": at(3600).isoformat(), "end": at(7200).isoformat()}],
    )
    number = _deploy(estate, ref, strategy="big_bang")
    engine.tick(estate, at(0))
    shown = _show(estate, number)
    assert shown["state"] == "waiting_for_window"
    assert shown["waiting_until"] == at(3600).isoformat()
    assert shown["started_at"] is None
    assert shown["counts"] == {"not_started": 4}
    engine.tick(estate, at(1800))
    assert _show(estate, number)["state"] == "waiting_for_window"
    engine.tick(estate, at(3600))
    shown = _show(estate, number)
    assert shown["state"] == "running"
    assert shown["started_at"] == at(3600).isoformat()
    assert shown["counts"] == {"pending": 4}
    report_all(estate, number, OK)
    engine.tick(estate, at(3700))
    assert _show(estate, number)["state"] == "succeeded"
    with estate.reading() as session:
        change = changes.get_change(session, ref)
        assert (change.state, change.outcome) == ("implemented", "succeeded")


@pytest.mark.parametrize("on_close", ["pause", "wait"])
def test_a_freeze_holds_the_next_wave_and_the_deviation_is_audited(
    estate: Database, on_close: str
) -> None:
    _policy(estate, on_window_close=on_close)
    _window(estate, name="freeze", kind="deny", start=_local(60), duration="1h")
    number = _deploy(estate, _change(estate), waves="1,100%")
    engine.tick(estate, at(0))
    assert _show(estate, number)["counts"] == {"not_started": 3, "pending": 1}
    report_all(estate, number, OK)
    engine.tick(estate, at(120))  # wave 1 is done, but the freeze began at 60 s
    shown = _show(estate, number)
    assert shown["counts"] == {"not_started": 3, "succeeded": 1}
    [deviation] = _events(estate, "deployment.deviation")
    assert deviation.after is not None
    assert deviation.after["kind"] == "window_closed"
    assert deviation.after["opens_at"] == at(3660).isoformat()
    if on_close == "pause":
        assert shown["state"] == "paused"
        assert "the window closed after wave 1" in shown["reason"]
        engine.tick(estate, at(4000))
        assert _show(estate, number)["state"] == "paused"  # a person resumes it
        with estate.writing() as session:
            service.resume(session, DANA, number, "freeze over")
    else:
        assert shown["state"] == "waiting_for_window"
        assert shown["waiting_until"] == at(3660).isoformat()
    engine.tick(estate, at(4000))
    shown = _show(estate, number)
    assert shown["state"] == "running"
    assert shown["counts"] == {"pending": 3, "succeeded": 1}
    report_all(estate, number, OK)
    engine.tick(estate, at(4100))
    assert _show(estate, number)["state"] == "succeeded"
    assert len(_events(estate, "deployment.deviation")) == 1


def test_only_an_emergency_change_with_a_reason_runs_inside_a_freeze(estate: Database) -> None:
    _window(estate, name="freeze", kind="deny", start=_local(0), duration="2h")
    plain = _deploy(estate, _change(estate), strategy="big_bang")
    with estate.writing() as session:
        emergency = changes.create_change(
            session,
            DANA,
            ChangeCreate.model_validate(
                {"type": "emergency", "title": "payments down", "environments": ["production"],
                 "components": ["shop"], "submit": True,
                 "freeze_override_reason": "card payments fail for every customer"},
                strict=False,
            ),
        ).ref  # fmt: skip
        changes.decide(session, CAB, emergency, Decision.APPROVE)
    engine.tick(estate, at(10))
    assert _show(estate, plain)["state"] == "waiting_for_window"
    with estate.writing() as session:
        service.abort(session, DANA, plain, "superseded by the emergency fix")
    engine.tick(estate, at(15))
    assert _show(estate, plain)["state"] == "aborted"
    with estate.reading() as session:  # nothing was done under it: still usable
        assert changes.get_change(session, _show(estate, plain)["change_ref"]).state == (
            "authorised"
        )
    urgent = _deploy(estate, emergency, strategy="big_bang")
    engine.tick(estate, at(20))
    assert _show(estate, urgent)["state"] == "running"
    [deviation] = _events(estate, "deployment.deviation")
    assert deviation.after is not None
    assert deviation.after["kind"] == "freeze_override"
    assert deviation.after["windows"] == ["freeze"]
    report_all(estate, urgent, OK)
    engine.tick(estate, at(30))
    with estate.reading() as session:
        change = changes.get_change(session, emergency)
        assert change.state == "implemented"
        assert change.review_required
        # The engine ran at explicit moments (2030); the records' own clocks are real time.
        found = figures.practice(session, utcnow() - timedelta(days=1), at(0) + timedelta(days=1))
    assert found["deployments"]["started"] == 1  # the aborted one never started
    assert found["deployments"]["under_authorised_change"] == 1
    assert found["deployments"]["started_inside_window"] == 0
    assert found["changes"] == {
        "implemented": 1,
        "emergency": 1,
        "emergency_share": 1.0,
        "computed_from": "changes implemented in the period",
    }
    assert found["deviations"]["by_kind"] == {"freeze_override": 1}


def test_a_recurring_freeze_blocks_a_wave_until_its_occurrence_ends(estate: Database) -> None:
    _policy(estate, on_window_close="wait")
    # Every night from 00:01 for an hour, since a month before: today's occurrence counts.
    _window(
        estate,
        name="nightly-batch",
        kind="deny",
        start=_local(60 - 31 * 86400),
        duration="1h",
        rrule="FREQ=DAILY",
    )
    number = _deploy(estate, _change(estate), waves="1,100%")
    engine.tick(estate, at(0))
    report_all(estate, number, OK)
    engine.tick(estate, at(120))
    shown = _show(estate, number)
    assert shown["state"] == "waiting_for_window"
    assert "nightly-batch" in shown["reason"]
    assert shown["waiting_until"] == at(3660).isoformat()
    engine.tick(estate, at(3659))
    assert _show(estate, number)["counts"] == {"not_started": 3, "succeeded": 1}
    engine.tick(estate, at(3660))
    assert _show(estate, number)["counts"] == {"pending": 3, "succeeded": 1}
