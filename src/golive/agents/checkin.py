"""The one read an unchanged agent check-in costs.

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
from collections.abc import Callable
from queue import Empty, SimpleQueue
from typing import Any, TypeVar

from sqlalchemy import bindparam, select

from golive.agents.models import AgentCredential, AgentState
from golive.agents.rules import etag
from golive.agents.service import (
    ACTIVE_ASSIGNMENTS,
    DESIRED_HEAD,
    DesiredState,
    for_agent,
)
from golive.db import Database
from golive.inventory.models import Target

T = TypeVar("T")

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
        self._sql = str(CHECK_IN.compile(dialect=dialect))
        self._positional = bool(dialect.positional)
        self._idle: SimpleQueue[Any] = SimpleQueue()
        self._errors: tuple[type[BaseException], ...] = (
            dialect.loaded_dbapi.OperationalError,
            dialect.loaded_dbapi.InterfaceError,
        )
        # A local SQLite read takes microseconds: cheaper in the event loop than a
        # hop to a worker thread. A server round trip goes to a thread.
        self.blocks_briefly = db.is_sqlite
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
        params: Any = (secret_hash,) if self._positional else {"secret_hash": secret_hash}

        def fetch(connection: Any) -> CheckInRow | None:
            row = self._fetch(connection, self._sql, params, one=True)
            if row is None:
                return None
            return int(row[0]), row[1], int(row[2]), row[3], str(row[4])

        return self._use(fetch)

    def desired(
        self, target_id: int, known: tuple[str, int, str | None] | None = None
    ) -> DesiredState:
        """The target's desired state, as ``service.desired_state`` reads it.

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
