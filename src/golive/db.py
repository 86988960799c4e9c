"""The records: one SQLAlchemy engine, read and write sessions, and schema checks.

SQLite (the embedded default) runs in WAL mode. A write transaction starts with
``BEGIN IMMEDIATE`` so that it takes the database's single write lock up front
and waits for it (busy timeout) instead of failing when it upgrades a read lock
later; read transactions stay deferred and never block writers.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy.exc
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import DateTime, Dialect, Engine, TypeDecorator, create_engine, event, make_url
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from golive.errors import ConflictError, SchemaError

MIGRATIONS = Path(__file__).parent / "migrations"
_WRITE_OPTION = "golive_write"


class Base(DeclarativeBase):
    """Declarative base of every golive table."""


def utcnow() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    """A timestamp as ISO 8601, or None."""
    return moment.isoformat() if moment is not None else None


class UTCDateTime(TypeDecorator[datetime]):
    """A timestamp stored in UTC and always returned time-zone aware (SQLite drops the zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("golive stores only time-zone aware timestamps")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def normalise_url(url: str) -> str:
    """Use the psycopg 3 driver for plain ``postgresql://`` URLs."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def _sqlite_setup(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defeat BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_WRITE_OPTION, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def make_engine(url: str) -> Engine:
    url = normalise_url(url)
    if is_sqlite(url):
        # A pool of open connections: opening one runs the PRAGMAs below, which
        # would otherwise cost every request a millisecond or more.
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            # Room for the request threads (40), the engine and the agents' writer at
            # once: a connection opened beyond it is closed again when returned.
            pool_size=48,
            max_overflow=16,
        )
        _sqlite_setup(engine)
        return engine
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


class Database:
    """An engine plus the two ways to use it: ``reading()`` and ``writing()``."""

    def __init__(self, url: str) -> None:
        self.url = normalise_url(url)
        self.engine = make_engine(self.url)
        writer = self.engine.execution_options(**{_WRITE_OPTION: True})
        self._reader = sessionmaker(self.engine, expire_on_commit=False)
        self._writer = sessionmaker(writer, expire_on_commit=False)
        # SQLite has one write lock per database; writers of this process queue for it
        # here instead of in SQLite's busy handler, which sleeps in steps of milliseconds.
        self._write_turn: threading.RLock | None = threading.RLock() if self.is_sqlite else None

    @functools.cached_property
    def is_sqlite(self) -> bool:
        return is_sqlite(self.url)

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for reads; rolled back at the end."""
        with self._reader() as session:
            yield session

    @contextmanager
    def writing(self) -> Iterator[Session]:
        """One write transaction: committed when the block ends, rolled back on error.

        Raises:
            ConflictError: a uniqueness or reference rule of the database refused the
                change, typically because another writer got there first.
        """
        turn = self._write_turn if self._write_turn is not None else contextlib.nullcontext()
        try:
            with turn, self._writer() as session, session.begin():
                yield session
        except sqlalchemy.exc.IntegrityError as exc:
            raise ConflictError(
                "the change conflicts with records written at the same time; "
                "look at the current state and try again"
            ) from exc

    def dispose(self) -> None:
        self.engine.dispose()

    def schema_status(self) -> SchemaStatus:
        return schema_status(self.engine)

    def require_current_schema(self) -> None:
        """Raise SchemaError with what to do unless the schema matches this code."""
        status = self.schema_status()
        where = make_url(self.url).render_as_string(hide_password=True)
        if status.state == "missing":
            raise SchemaError(
                f"The database at {where} has no golive schema. "
                "Run `golive init` (or `golive db upgrade`) first."
            )
        if status.state == "older":
            raise SchemaError(
                f"The database at {where} is at schema revision {status.current}, older than "
                f"this golive ({status.head}). Run `golive db upgrade`, then start again."
            )
        if status.state == "newer":
            raise SchemaError(
                f"The database at {where} was migrated by a newer golive (revision "
                f"{status.current}, unknown to this version, whose newest is {status.head}). "
                "Upgrade golive, or point GOLIVE_DATABASE_URL at another database."
            )


def alembic_config(engine: Engine | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        config.attributes["engine"] = engine
    return config


class SchemaStatus:
    """Where a database's schema stands against this code's migrations."""

    def __init__(self, state: str, current: str | None, head: str) -> None:
        self.state = state  # missing | older | current | newer
        self.current = current
        self.head = head

    def as_dict(self) -> dict[str, str | None]:
        return {"state": self.state, "current": self.current, "head": self.head}


@functools.cache
def _code_revisions() -> tuple[str, frozenset[str]]:
    """This code's head revision and every revision it knows (read once per process)."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise SchemaError("golive ships no migrations; the installation is broken.")
    return head, frozenset(rev.revision for rev in script.walk_revisions())


def schema_status(engine: Engine) -> SchemaStatus:
    head, known = _code_revisions()
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    if current is None:
        return SchemaStatus("missing", None, head)
    if current == head:
        return SchemaStatus("current", current, head)
    return SchemaStatus("older" if current in known else "newer", current, head)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (Alembic)."""
    from alembic import command

    command.upgrade(alembic_config(engine), revision)
