"""The demo fleet's records, written once, on SQLite and on PostgreSQL (no server needed)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sqlalchemy import select

from golive.auth.service import SYSTEM
from golive.db import Database
from golive.demo.records import prepare
from golive.inventory.models import ConnectionKind, Target
from golive.inventory.schemas import EnvironmentCreate, TargetCreate
from golive.inventory.service import create_environment, create_target
from golive.media.models import Version
from golive.media.storage import LocalBlobStore
from golive.settings import Settings

URL = "http://127.0.0.1:8000"


def test_prepare_creates_the_fleet_once(tmp_path: Path, database_url: str) -> None:
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    first = prepare(settings, URL)
    assert Counter(kind for kind, _ in first.created) == {
        "environment": 3,
        "component": 1,
        "approved version": 3,
        "target": 12,
        "enrollment token": 4,  # one per environment and site
    }
    assert len(first.agents) == 12
    assert all(
        agent.enroll_token and agent.enroll_token.startswith("gle_") for agent in first.agents
    )
    assert first.agents[0].root == (settings.home / "demo" / "agents" / "dev-web-01").absolute()
    database = Database(database_url)
    with database.reading() as session:
        versions = session.scalars(select(Version)).all()
        assert {v.version: v.status for v in versions} == {
            "1.0.0": "approved",
            "1.1.0": "approved",
            "1.2.0-bad": "approved",
        }
        digests = [v.digest for v in versions]
    database.dispose()
    store = LocalBlobStore(settings.blobs_dir)
    assert all(store.exists(digest) for digest in digests)

    # Again: nothing new but the tokens, as no agent has enrolled yet.
    second = prepare(settings, URL)
    assert {kind for kind, _ in second.created} == {"enrollment token"}
    assert [a.target.name for a in second.agents] == [a.target.name for a in first.agents]


def test_a_name_taken_by_another_kind_of_target_is_left_alone(
    tmp_path: Path, database_url: str
) -> None:
    database = Database(database_url)
    with database.writing() as session:
        create_environment(session, SYSTEM, EnvironmentCreate(name="production"))
        spec = TargetCreate(
            name="prod-web-01",
            environment="production",
            connection=ConnectionKind.SSH,
            address="10.0.0.1",
        )
        create_target(session, SYSTEM, spec)
    settings = Settings(home=tmp_path / "home", database_url=database_url)
    prepared = prepare(settings, URL)
    assert "prod-web-01" not in [a.target.name for a in prepared.agents]
    assert len(prepared.agents) == 11
    assert prepared.not_started[0].startswith("prod-web-01: a target of that name exists")
    with database.reading() as session:
        kept = session.scalars(select(Target).where(Target.name == "prod-web-01")).one()
        assert kept.connection == "ssh"
    database.dispose()
