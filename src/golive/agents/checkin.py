"""The check-in's reads: the one an unchanged check-in costs, and the desired state.

Every agent asks for its desired state every poll interval, so at fleet scale this
read is most of the server's work. It is one indexed row (credential hash → target,
its desired-state generation and inventory digest, whether the credential is
revoked), run as pre-compiled SQL on a pooled driver connection in autocommit mode:
no ORM objects, no transaction to begin and roll back, and never a write.

The main engine opens a fresh SQLite connection per session (NullPool); the reader
keeps idle read-only connections of its own instead, and on PostgreSQL idle
autocommit ones.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from queue import Empty, SimpleQueue
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, literal_column, select

from golive.agents.models import AgentCredential, AgentState, Assignment
from golive.agents.rules import ACTIVE, AssignmentState, etag
from golive.agents.service import POLL_INTERVAL_SECONDS
from golive.db import Database
from golive.inventory.models import Component, Target
from golive.media.models import Version

T = TypeVar("T")


@dataclass(frozen=True)
class DesiredState:
    target: str
    etag: str
    inventory_digest: str | None
    assignments: list[dict[str, Any]]

    @property
    def has_pending(self) -> bool:
        return any(a["state"] == AssignmentState.PENDING.value for a in self.assignments)

    def handed_out(self, dispatched: Sequence[int], moved_on: str | None) -> DesiredState:
        """This state once ``dispatched`` were marked dispatched (``batch.HandOut``)."""
        marked = set(dispatched)
        return DesiredState(
            target=self.target,
            etag=moved_on or self.etag,
            inventory_digest=self.inventory_digest,
            assignments=[
                {**item, "state": AssignmentState.DISPATCHED.value}
                if item["id"] in marked
                else item
                for item in self.assignments
            ],
        )

    def as_body(self, reported_inventory: str | None) -> dict[str, Any]:
        return {
            "target": self.target,
            "etag": self.etag,
            "poll_interval_seconds": POLL_INTERVAL_SECONDS,
            "send_inventory": reported_inventory is not None
            and reported_inventory != self.inventory_digest,
            "assignments": self.assignments,
        }


# The check-in's 200 path runs these for every target whose desired state changed, a few
# times per target in a rollout: plain Core statements on the tables, built once (no ORM
# objects, no relationship loads), as audit.record does.
_TARGETS = cast(Table, Target.__table__)
_STATES = cast(Table, AgentState.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)
_COMPONENTS = cast(Table, Component.__table__)
_VERSIONS = cast(Table, Version.__table__)
_VERSION_COMPONENTS = _COMPONENTS.alias("version_components")
DESIRED_HEAD = (
    select(_TARGETS.c.name, _STATES.c.desired_generation, _STATES.c.inventory_digest)
    .select_from(_TARGETS.join(_STATES, _STATES.c.target_id == _TARGETS.c.id))
    .where(_TARGETS.c.id == bindparam("target_id"))
)
ACTIVE_ASSIGNMENTS = (
    select(
        _ASSIGNMENTS.c.id,
        _ASSIGNMENTS.c.action,
        _COMPONENTS.c.name.label("component"),
        _VERSIONS.c.version,
        _VERSIONS.c.digest,
        _VERSIONS.c.size,
        _VERSION_COMPONENTS.c.name.label("version_component"),
        _VERSIONS.c.filename,
        _ASSIGNMENTS.c.state,
        _ASSIGNMENTS.c.hooks,
        _ASSIGNMENTS.c.hook_timeout_seconds,
        _ASSIGNMENTS.c.keep_releases,
    )
    .select_from(
        _ASSIGNMENTS.join(_COMPONENTS, _COMPONENTS.c.id == _ASSIGNMENTS.c.component_id)
        .join(_VERSIONS, _VERSIONS.c.id == _ASSIGNMENTS.c.version_id)
        .join(_VERSION_COMPONENTS, _VERSION_COMPONENTS.c.id == _VERSIONS.c.component_id)
    )
    .where(
        _ASSIGNMENTS.c.target_id == bindparam("target_id"),
        # The states as SQL literals (fixed names), so the statement's one parameter is
        # the target: the check-in runs it as plain driver SQL (agents/checkin.py).
        _ASSIGNMENTS.c.state.in_([literal_column(f"'{state.value}'") for state in sorted(ACTIVE)]),
    )
    .order_by(_ASSIGNMENTS.c.id)
)


def for_agent(row: Mapping[Any, Any]) -> dict[str, Any]:
    """The ASSIGNMENT object of the agent protocol (docs/agent-protocol.md)."""
    return {
        "id": row["id"],
        "action": row["action"],
        "component": row["component"],
        "version": row["version"],
        "digest": row["digest"],
        "size": row["size"],
        # media.models.Version.target_path: the TUF target path agents download it by.
        "tuf_target": f"{row['version_component']}/{row['version']}/{row['filename']}",
        "state": row["state"],
        "hooks": dict(row["hooks"]),
        "hook_timeout_seconds": row["hook_timeout_seconds"],
        "keep_releases": row["keep_releases"],
    }


CHECK_IN = (
    select(
        AgentCredential.target_id,
        AgentCredential.revoked_at,
        AgentState.desired_generation,
        AgentState.inventory_digest,
        Target.name,
    )
    .join(AgentState, AgentState.target_id == AgentCredential.target_id)
    .join(Target, Target.id == AgentCredential.target_id)
    .where(AgentCredential.secret_hash == bindparam("secret_hash"))
)

# (target id, credential revoked at, desired-state generation, inventory digest, name)
CheckInRow = tuple[int, Any, int, str | None, str]


class CheckInReader:
    """Looks a credential hash up for the check-in; ``dispose()`` when the server stops.

    Keeps its own idle driver connections (autocommit, read-only on SQLite) in a queue:
    cheaper per call than an engine's pool, whose checkout and reset are events and
    rollbacks this read does not need.
    """

    MAX_IDLE = 32

    def __init__(self, db: Database, *, own_pool: bool = True) -> None:
        self._db = db
        self._shared = not own_pool or ":memory:" in db.url or "mode=memory" in db.url
        dialect = db.engine.dialect
        self._positional = bool(dialect.positional)
        self._idle: SimpleQueue[Any] = SimpleQueue()
        self._errors: tuple[type[BaseException], ...] = (
            dialect.loaded_dbapi.OperationalError,
            dialect.loaded_dbapi.InterfaceError,
        )
        # A local SQLite read takes microseconds: cheaper in the event loop than a
        # hop to a worker thread. A server round trip goes to a thread.
        self.blocks_briefly = db.is_sqlite
        self._check_in = self._compiled(CHECK_IN)
        self._head = self._compiled(DESIRED_HEAD)
        self._active = self._compiled(ACTIVE_ASSIGNMENTS)

    def _connect(self) -> Any:
        engine = self._db.engine
        dialect = engine.dialect
        cargs, cparams = dialect.create_connect_args(engine.url)
        if self._db.is_sqlite:
            cparams.update(check_same_thread=False, timeout=30)
            connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
            connection.isolation_level = None  # autocommit: each SELECT is its own read
            connection.execute("PRAGMA busy_timeout=30000")
            connection.execute("PRAGMA query_only=ON")
        else:
            connection = dialect.loaded_dbapi.connect(*cargs, **cparams)
            connection.autocommit = True
        return connection

    def _compiled(self, statement: Any) -> tuple[str, Callable[[dict[str, Any]], Any]]:
        """``statement`` as the driver's SQL, and what turns named values into its params."""
        compiled = statement.compile(dialect=self._db.engine.dialect)
        order = compiled.positiontup
        if self._positional and order is not None:
            return str(compiled), lambda given: tuple(given[name] for name in order)
        return str(compiled), lambda given: given

    def lookup(self, secret_hash: str) -> CheckInRow | None:
        """A ``CheckInRow``, or None when the credential is unknown."""
        sql, params = self._check_in

        def fetch(connection: Any) -> CheckInRow | None:
            row = self._fetch(connection, sql, params({"secret_hash": secret_hash}), one=True)
            if row is None:
                return None
            return int(row[0]), row[1], int(row[2]), row[3], str(row[4])

        return self._use(fetch)

    def desired(
        self, target_id: int, known: tuple[str, int, str | None] | None = None
    ) -> DesiredState:
        """The target's desired state: its unfinished assignments, oldest first, and the ETag
        that covers them.

        Args:
            known: the target's name, generation and inventory digest when the caller
                has just read them (a waiting check-in, woken by them): then only its
                assignments are read, after them, as the ETag's rule wants.
        """
        given = {"target_id": target_id}

        def fetch(connection: Any) -> DesiredState:
            if known is None:
                head_sql, head_params = self._head
                head = self._fetch(connection, head_sql, head_params(given), True)
                name, generation, digest = head
            else:
                name, generation, digest = known
            # The generation is read before the assignments: a change committed in
            # between makes the next check-in a 200 again, never a 304 that hides it.
            active_sql, active_params = self._active
            rows = self._fetch(connection, active_sql, active_params(given), one=False)
            return DesiredState(
                target=str(name),
                etag=etag(target_id, int(generation)),
                inventory_digest=digest,
                assignments=[for_agent(_decoded(row)) for row in rows],
            )

        return self._use(fetch)

    def _use(self, work: Callable[[Any], T]) -> T:
        if self._shared:
            connection = self._db.engine.raw_connection()
            try:
                return work(connection)
            finally:
                connection.close()
        try:
            connection = self._idle.get_nowait()
            fresh = False
        except Empty:
            connection = self._connect()
            fresh = True
        try:
            result = work(connection)
        except self._errors:
            connection.close()
            if fresh:
                raise
            # An idle connection the server closed (a restart): once more, afresh.
            connection = self._connect()
            result = work(connection)
        if self._idle.qsize() < self.MAX_IDLE:
            self._idle.put(connection)
        else:
            connection.close()
        return result

    @staticmethod
    def _fetch(connection: Any, sql: str, params: Any, one: bool) -> Any:
        cursor = connection.cursor()
        try:
            cursor.execute(sql, params)
            return cursor.fetchone() if one else cursor.fetchall()
        finally:
            cursor.close()

    def dispose(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except Empty:
                return


_COLUMNS = [str(column.key) for column in ACTIVE_ASSIGNMENTS.selected_columns]
_HOOKS = _COLUMNS.index("hooks")


def _decoded(row: Any) -> dict[str, Any]:
    """A driver row of ACTIVE_ASSIGNMENTS by column, its JSON column decoded (SQLite gives
    text)."""
    values = list(row)
    if isinstance(values[_HOOKS], str):
        values[_HOOKS] = json.loads(values[_HOOKS])
    return dict(zip(_COLUMNS, values, strict=True))
