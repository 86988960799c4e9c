"""The engine driven directly: ticks at explicit moments, agents simulated through the
real assignment records (move_assignment with by_agent=True), on both backends."""

from __future__ import annotations

from typing import Any

import pytest

from golive.agents.models import Assignment, Installed
from golive.agents.rules import AssignmentState
from golive.auth.service import SYSTEM
from golive.db import Database
from golive.deployments import engine, service, strategies
from golive.errors import ConflictError, InvalidInputError, NotFoundError, PolicyError
from golive.media.models import VersionStatus
from golive.media.service import change_status
from tests.conftest import fresh_postgres_url
from tests.deployments.conftest import at, build_estate, report_all
from tests.support.postgres import PostgresCluster

OK = AssignmentState.SUCCEEDED


def _deploy(db: Database, version: str = "2", **options: Any) -> int:
    strategy = options.pop("strategy", "phased")
    names = options.pop("names", ())
    with db.writing() as session:
        created = service.create_deployment(
            session,
            SYSTEM,
            refs=[("shop", version)],
            environment="production",
            names=names,
            params=strategies.parse_params(strategy, **options),
        )
        return created.id


def _show(db: Database, number: int) -> dict[str, Any]:
    with db.reading() as session:
        return service.describe(session, service.get_deployment(session, number))


@pytest.fixture
def estate(db: Database) -> Database:
    with db.writing() as session:
        build_estate(session)
    return db


def test_big_bang_dispatches_everything_and_succeeds(estate: Database) -> None:
    number = _deploy(estate, strategy="big_bang")
    assert _show(estate, number)["state"] == "planned"
    assert engine.tick(estate, at(0)) == 1
    shown = _show(estate, number)
    assert shown["state"] == "running"
    assert shown["counts"] == {"pending": 4}
    assert engine.tick(estate, at(1)) == 0  # idempotent: nothing new
    with estate.reading() as session:
        assert len(session.query(Assignment).all()) == 4
    report_all(estate, number, OK)
    engine.tick(estate, at(2))
    shown = _show(estate, number)
    assert shown["state"] == "succeeded"
    assert shown["counts"] == {"succeeded": 4}
    with estate.reading() as session:
        assert {i.version.version for i in session.query(Installed).all()} == {"2"}


def test_phased_with_confirmation_bake_and_rollback_on_failure(estate: Database) -> None:
    first = _deploy(estate, "1", strategy="big_bang")
    engine.tick(estate, at(0))
    report_all(estate, first, OK)
    engine.tick(estate, at(1))
    number = _deploy(
        estate, "2", waves="1,50%", bake="1m", confirm_waves=True, rollback_on_failure=True
    )
    engine.tick(estate, at(10))
    assert _show(estate, number)["counts"] == {"not_started": 3, "pending": 1}
    report_all(estate, number, OK)
    engine.tick(estate, at(20))
    shown = _show(estate, number)
    assert shown["state"] == "running"
    assert shown["waiting_until"] is not None
    engine.tick(estate, at(90))
    assert _show(estate, number)["state"] == "waiting_for_confirmation"
    with estate.writing() as session:
        service.confirm_wave(session, SYSTEM, number)
    engine.tick(estate, at(91))
    report_all(estate, number, AssignmentState.ROLLED_BACK)
    engine.tick(estate, at(92))
    shown = _show(estate, number)
    assert shown["state"] == "halted"
    assert shown["failures"]
    report_all(estate, number, OK)  # the rollback assignment of the first wave's target
    engine.tick(estate, at(93))
    shown = _show(estate, number)
    assert shown["state"] == "rolled_back", shown
    with estate.reading() as session:
        assert {i.version.version for i in session.query(Installed).all()} == {"1"}


def test_pause_resume_abort_and_retry(estate: Database) -> None:
    number = _deploy(estate, waves="1,2")
    with estate.writing() as session:
        service.pause(session, SYSTEM, number)
    engine.tick(estate, at(0))
    assert _show(estate, number)["counts"] == {"not_started": 4}
    with estate.writing() as session:
        service.resume(session, SYSTEM, number)
        with pytest.raises(ConflictError):
            service.resume(session, SYSTEM, number)
    engine.tick(estate, at(1))
    report_all(estate, number, AssignmentState.FAILED)
    engine.tick(estate, at(2))
    assert _show(estate, number)["state"] == "failed"
    with estate.writing() as session:
        service.retry_failed(session, SYSTEM, number)
    engine.tick(estate, at(3))
    shown = _show(estate, number)
    assert shown["state"] == "running"
    assert shown["counts"] == {"not_started": 3, "pending": 1}
    with estate.writing() as session:
        service.abort(session, SYSTEM, number)
    engine.tick(estate, at(4))
    shown = _show(estate, number)
    assert shown["state"] == "aborted"
    assert shown["counts"] == {"not_started": 3, "skipped": 1}


def test_refusals(estate: Database) -> None:
    with estate.writing() as session:
        change_status(session, SYSTEM, "shop", "2", VersionStatus.WITHDRAWN, "bad")
    with pytest.raises(PolicyError, match="withdrawn"):
        _deploy(estate, "2")
    with pytest.raises(InvalidInputError, match="not targets"):
        _deploy(estate, "1", names=("nope",))
    with pytest.raises(NotFoundError):
        _deploy(estate, "9")
    with estate.reading() as session:
        shown = service.dry_run_plan(
            session,
            refs=[("shop", "1")],
            environment="production",
            params=strategies.parse_params("phased", waves="1,50%"),
            names=("web-01",),
        )
    assert shown["waves"] == [{"index": 1, "targets": ["web-01"]}]
    number = _deploy(estate, "1")
    with pytest.raises(ConflictError, match=f"deployment {number}"):
        _deploy(estate, "1")
    with estate.writing() as session, pytest.raises(ConflictError):
        service.confirm_wave(session, SYSTEM, number)


def test_removal_uses_the_same_machinery(estate: Database) -> None:
    first = _deploy(estate, "1", strategy="big_bang")
    engine.tick(estate, at(0))
    report_all(estate, first, OK)
    engine.tick(estate, at(1))
    with estate.writing() as session:
        number = service.create_deployment(
            session,
            SYSTEM,
            refs=[("shop", "1")],
            environment="production",
            params=strategies.parse_params("big_bang"),
            action="remove",
        ).id
    engine.tick(estate, at(2))
    report_all(estate, number, OK)
    engine.tick(estate, at(3))
    assert _show(estate, number)["state"] == "succeeded"
    with estate.reading() as session:
        assert session.query(Installed).all() == []


def test_a_failed_step_writes_nothing_and_the_next_repeats_nothing(estate: Database) -> None:
    number = _deploy(estate, strategy="big_bang")

    class Crash(Exception):
        pass

    def step_then_die() -> None:
        with estate.writing() as session:
            engine.step(session, number, at(0))
            raise Crash  # the process dies before the commit

    with pytest.raises(Crash):
        step_then_die()
    assert _show(estate, number)["state"] == "planned"
    engine.tick(estate, at(1))
    engine.tick(estate, at(2))
    with estate.reading() as session:
        assert len(session.query(Assignment).all()) == 4


@pytest.mark.postgresql
def test_a_claimed_deployment_is_left_to_its_holder(postgres: PostgresCluster) -> None:
    """The lease is PostgreSQL's FOR UPDATE SKIP LOCKED (SQLite serialises every writer)."""
    estate = Database(fresh_postgres_url(postgres))
    try:
        with estate.writing() as session:
            build_estate(session)
        number = _deploy(estate, strategy="big_bang")
        with estate.writing() as holder:
            assert engine._claim(holder, number) is not None
            assert engine.tick(estate, at(0)) == 0  # the other process skips it
        assert engine.tick(estate, at(1)) == 1
    finally:
        estate.dispose()
