"""Check-ins that wait for a change (long polling, docs/agent-protocol.md "Check-in").

An agent may ask ``GET /api/v1/agent/desired?wait=N``: when nothing changed, instead of
an immediate 304 the server holds the request up to N seconds and answers as soon as
the target's desired state or recorded inventory moves. A fleet then hears of a new
wave within a fraction of a second without polling every second.

Changes are found by reading the database, not by a message inside one process: the
engine may run in a ``golive worker`` elsewhere. While anyone waits, one read every
``interval`` seconds lists the agent states updated lately (an index on ``updated_at``),
and every tenth read those of every waiting target, and wakes the waiters whose
target's generation or inventory digest is no longer the one they saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select

from golive.agents.models import AgentState
from golive.db import Database, UTCDateTime, utcnow

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
_WATCHED = (
    AgentState.target_id,
    AgentState.desired_generation,
    AgentState.inventory_digest,
    AgentState.revoked_at,
)
_RECENT = select(*_WATCHED).where(AgentState.updated_at >= bindparam("since", type_=UTCDateTime()))
_OF_TARGETS = select(*_WATCHED).where(AgentState.target_id.in_(bindparam("ids", expanding=True)))
# A target's id, desired-state generation, inventory digest, and whether it is revoked.
_Row = tuple[int, int, str | None, bool]
# Writers stamp updated_at with their own clock before they commit: a change may become
# visible a little after the moment it carries. Each read looks this far back again, and
# every tenth read looks at every waiter's target whatever its time (a long transaction,
# such as a wave of thousands of assignments, can take longer than this to commit).
_OVERLAP = timedelta(seconds=2)
_SWEEP_EVERY = 10


@dataclass
class _Waiter:
    generation: int
    inventory_digest: str | None
    woken: asyncio.Future[None]

    def wake(self) -> None:
        if not self.woken.done():
            self.woken.set_result(None)


class ChangeWatch:
    """Holds waiting check-ins and wakes them when their target changes."""

    def __init__(self, db: Database, *, interval: float = 0.2) -> None:
        self._db = db
        self._interval = interval
        self._waiters: dict[int, list[_Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())

    async def wait(
        self, target_id: int, generation: int, inventory_digest: str | None, timeout: float
    ) -> bool:
        """Wait up to ``timeout`` s for the target to move from what the caller saw (or
        to be revoked).

        Returns:
            True when it did; False when the time ran out or the watch was closed (the
            caller reads the target again either way, so nothing read here is handed on).
        """
        if self._closed:
            return False
        loop = asyncio.get_running_loop()
        self._loop = loop
        # A bare future and a timeout scope: no task per waiting check-in.
        waiter = _Waiter(generation, inventory_digest, loop.create_future())
        self._waiters.setdefault(target_id, []).append(waiter)
        if self._task is None or self._task.done():
            self._task = loop.create_task(self._watch())
        try:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout):
                    await waiter.woken
            # Timing out cancels the future; only a result means the target moved (or,
            # when the watch is closed, that the check-in should be answered now).
            woken = waiter.woken.done() and not waiter.woken.cancelled()
            return woken and not self._closed
        finally:
            waiters = self._waiters.get(target_id, [])
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(target_id, None)

    def close_soon(self) -> None:
        """``close`` from any thread (a signal handler, say)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self.close)

    def close(self) -> None:
        """End every wait now and refuse new ones (the server is stopping): each waiting
        check-in is answered with what it has, a 304 when nothing changed."""
        self._closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.wake()
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        since = utcnow() - _OVERLAP
        polls = 0
        while self._waiters and not self._closed:
            await asyncio.sleep(self._interval)
            started = utcnow()
            polls += 1
            try:
                if polls % _SWEEP_EVERY == 0:
                    # Every waiter's target, whenever it changed: a transaction that took
                    # longer than the overlap to commit is found here, not missed.
                    changed = await asyncio.to_thread(self._current, list(self._waiters))
                else:
                    changed = await asyncio.to_thread(self._recent, since - _OVERLAP)
            except Exception:
                log.exception("reading the agents' recent changes failed; trying again")
                continue
            since = started
            for target_id, generation, digest, revoked in changed:
                for waiter in self._waiters.get(target_id, ()):
                    # A revoked target's waiters wake too: the check-in identifies its
                    # agent again and answers 401 (re-enrolling clears the revocation).
                    moved = waiter.generation != generation or waiter.inventory_digest != digest
                    if moved or revoked:
                        waiter.wake()

    def _recent(self, since: datetime) -> list[_Row]:
        with self._db.reading() as session:
            return [_row(row) for row in session.execute(_RECENT, {"since": since})]

    def _current(self, target_ids: list[int]) -> list[_Row]:
        found: list[_Row] = []
        with self._db.reading() as session:
            for start in range(0, len(target_ids), 500):
                rows = session.execute(_OF_TARGETS, {"ids": target_ids[start : start + 500]})
                found.extend(_row(row) for row in rows)
        return found


def _row(row: Any) -> _Row:
    return int(row[0]), int(row[1]), row[2], row[3] is not None
