"""Check-ins that wait for a change (long polling, docs/agent-protocol.md "Check-in").

An agent may ask ``GET /api/v1/agent/desired?wait=N``: when nothing changed, instead of
an immediate 304 the server holds the request up to N seconds and answers as soon as
the target's desired state or recorded inventory moves. A fleet then hears of a new
wave within a fraction of a second without polling every second.

Changes are found by reading the database, not by a message inside one process: the
engine may run in a ``golive worker`` elsewhere. While anyone waits, one read every
``interval`` seconds lists the agent states updated lately (an index on ``updated_at``)
and wakes the waiters whose target's generation or inventory digest is no longer the
one they saw.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select

from golive.agents.models import AgentState
from golive.db import Database, UTCDateTime, utcnow

log = logging.getLogger(__name__)

MAX_WAIT_SECONDS = 60
_RECENT = select(
    AgentState.target_id, AgentState.desired_generation, AgentState.inventory_digest
).where(AgentState.updated_at >= bindparam("since", type_=UTCDateTime()))
# Writers stamp updated_at with their own clock before they commit: a change may become
# visible a little after the moment it carries. Each read looks this far back again.
_OVERLAP = timedelta(seconds=2)


@dataclass
class _Waiter:
    generation: int
    inventory_digest: str | None
    woken: asyncio.Event


class ChangeWatch:
    """Holds waiting check-ins and wakes them when their target changes."""

    def __init__(self, db: Database, *, interval: float = 0.2) -> None:
        self._db = db
        self._interval = interval
        self._waiters: dict[int, list[_Waiter]] = {}
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        return sum(len(waiters) for waiters in self._waiters.values())

    async def wait(
        self, target_id: int, generation: int, inventory_digest: str | None, timeout: float
    ) -> bool:
        """Wait up to ``timeout`` s for the target to move from what the caller saw.

        Returns:
            True when it moved (or the server is stopping), False when the time ran out.
        """
        if self._closed:
            return True
        waiter = _Waiter(generation, inventory_digest, asyncio.Event())
        self._waiters.setdefault(target_id, []).append(waiter)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._watch())
        try:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(waiter.woken.wait(), timeout)
            return waiter.woken.is_set()
        finally:
            waiters = self._waiters.get(target_id, [])
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)
            if not waiters:
                self._waiters.pop(target_id, None)

    def close(self) -> None:
        """Answer every waiting check-in now (the server is stopping)."""
        self._closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.woken.set()
        if self._task is not None:
            self._task.cancel()

    async def _watch(self) -> None:
        since = utcnow() - _OVERLAP
        while self._waiters and not self._closed:
            await asyncio.sleep(self._interval)
            started = utcnow()
            try:
                changed = await asyncio.to_thread(self._recent, since - _OVERLAP)
            except Exception:
                log.exception("reading the agents' recent changes failed; trying again")
                continue
            since = started
            for target_id, generation, digest in changed:
                for waiter in self._waiters.get(target_id, ()):
                    if waiter.generation != generation or waiter.inventory_digest != digest:
                        waiter.woken.set()

    def _recent(self, since: datetime) -> list[tuple[int, int, str | None]]:
        with self._db.reading() as session:
            return [
                (int(row[0]), int(row[1]), row[2])
                for row in session.execute(_RECENT, {"since": since})
            ]
