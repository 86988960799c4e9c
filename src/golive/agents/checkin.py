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

from queue import Empty, SimpleQueue
from typing import Any

from sqlalchemy import bindparam, select

from golive.agents.models import AgentCredential, AgentState
from golive.db import Database
from golive.inventory.models import Target

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

    def lookup(self, secret_hash: str) -> CheckInRow | None:
        """A ``CheckInRow``, or None when the credential is unknown."""
        params: Any = (secret_hash,) if self._positional else {"secret_hash": secret_hash}
        if self._shared:
            return self._lookup_shared(params)
        try:
            connection = self._idle.get_nowait()
            fresh = False
        except Empty:
            connection = self._connect()
            fresh = True
        try:
            row = self._fetch(connection, params)
        except self._errors:
            connection.close()
            if fresh:
                raise
            # An idle connection the server closed (a restart): once more, afresh.
            connection = self._connect()
            row = self._fetch(connection, params)
        if self._idle.qsize() < self.MAX_IDLE:
            self._idle.put(connection)
        else:
            connection.close()
        return row

    def _lookup_shared(self, params: Any) -> CheckInRow | None:
        connection = self._db.engine.raw_connection()
        try:
            return self._fetch(connection, params)
        finally:
            connection.close()

    def _fetch(self, connection: Any, params: Any) -> CheckInRow | None:
        cursor = connection.cursor()
        try:
            cursor.execute(self._sql, params)
            row = cursor.fetchone()
        finally:
            cursor.close()
        if row is None:
            return None
        return int(row[0]), row[1], int(row[2]), row[3], str(row[4])

    def dispose(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except Empty:
                return
