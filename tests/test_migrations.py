"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from golive.db import Database, alembic_config
from golive.models import metadata


def test_models_match_migrations(db: Database) -> None:
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    assert differences == []


def test_downgrade_to_base_and_up_again(db: Database) -> None:
    command.downgrade(alembic_config(db.engine), "base")
    assert db.schema_status().state == "missing"
    command.upgrade(alembic_config(db.engine), "head")
    assert db.schema_status().state == "current"
