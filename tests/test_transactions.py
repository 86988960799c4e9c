"""A change and its audit event commit together or not at all."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from golive.audit.chain import AuditEvent, verify_stored
from golive.auth.service import SYSTEM
from golive.db import Database
from golive.inventory.models import Environment
from golive.inventory.schemas import EnvironmentCreate
from golive.inventory.service import create_environment
from tests.support.live import LiveServer


class Interrupted(Exception):
    pass


def _counts(db: Database) -> tuple[int, int]:
    with db.reading() as session:
        environments = session.scalar(select(func.count(Environment.id))) or 0
        events = session.scalar(select(func.count(AuditEvent.seq))) or 0
    return environments, events


def test_failure_after_the_event_rolls_back_the_change(db: Database) -> None:
    def half_done() -> None:
        with db.writing() as session:
            create_environment(session, SYSTEM, EnvironmentCreate(name="half-done"))
            raise Interrupted

    with pytest.raises(Interrupted):
        half_done()
    assert _counts(db) == (0, 0)


def test_committed_change_has_its_event(db: Database) -> None:
    with db.writing() as session:
        create_environment(session, SYSTEM, EnvironmentCreate(name="whole"))
    assert _counts(db) == (1, 1)
    with db.reading() as session:
        assert verify_stored(session).ok


def test_racing_duplicates_get_409_never_500(live: LiveServer) -> None:
    def create(_: int) -> int:
        with live.client() as http:
            return http.post("/api/v1/environments", json={"name": "contested"}).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        statuses = sorted(pool.map(create, range(12)))
    assert statuses == [201] + [409] * 11
    with live.client("auditor") as http:
        assert http.get("/api/v1/audit/verify").json()["ok"]
        created = http.get("/api/v1/audit/events", params={"action": "environment.create"})
    assert len(created.json()["items"]) == 1
