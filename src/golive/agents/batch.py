"""Many agents' calls in one write transaction (group commit).

In a rollout thousands of agents report at once. One write transaction per report
would make the database's single writer (SQLite) or its commits (PostgreSQL) the
limit, and the ORM's unit of work would cost more than the statements themselves.
Here the reports and hand-outs of many agents are applied together: the rows they
touch are read in one statement, every move is checked against the same rules as
``service.move_assignment`` (``rules.check_move``), and the writes go out as one
multi-row statement per table, with their audit events appended in the same
transaction (``audit.record_many``).

Each call keeps its own answer: a report the rules refuse is refused alone (its error
is in its result), and if the batch's transaction fails as a whole, every call is
applied again on its own, so one bad call can only fail itself.

``GroupWriter`` is the thread that collects the calls and commits them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import datetime
from queue import Empty, SimpleQueue
from typing import Any, cast

from sqlalchemy import Connection, Table, bindparam, delete, func, insert, select, update
from sqlalchemy.orm import Session

from golive import audit
from golive.agents.models import (
    AgentCredential,
    AgentState,
    Assignment,
    AssignmentEvent,
    Installed,
    InstallRecord,
)
from golive.agents.rules import (
    REPORT_TRANSITIONS,
    REPORTABLE,
    SERVER_TRANSITIONS,
    AssignmentAction,
    AssignmentState,
    check_move,
    etag,
    inventory_digest,
    revoked,
    truncate_output,
)
from golive.agents.schemas import Inventory, Report
from golive.db import Database, UTCDateTime, utcnow
from golive.errors import AuthenticationError, GoliveError, InvalidInputError, NotFoundError
from golive.inventory.models import Component, Target
from golive.media.models import Version

log = logging.getLogger(__name__)

_TARGETS = cast(Table, Target.__table__)
_STATES = cast(Table, AgentState.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)
_COMPONENTS = cast(Table, Component.__table__)
_VERSIONS = cast(Table, Version.__table__)
_INSTALLED = cast(Table, Installed.__table__)

_ROWS = (
    select(
        _ASSIGNMENTS.c.id,
        _ASSIGNMENTS.c.target_id,
        _TARGETS.c.name.label("target"),
        _ASSIGNMENTS.c.component_id,
        _COMPONENTS.c.name.label("component"),
        _ASSIGNMENTS.c.version_id,
        _VERSIONS.c.version,
        _VERSIONS.c.digest,
        _ASSIGNMENTS.c.action,
        _ASSIGNMENTS.c.deployment_id,
        _ASSIGNMENTS.c.state,
    )
    .select_from(
        _ASSIGNMENTS.join(_TARGETS, _TARGETS.c.id == _ASSIGNMENTS.c.target_id)
        .join(_COMPONENTS, _COMPONENTS.c.id == _ASSIGNMENTS.c.component_id)
        .join(_VERSIONS, _VERSIONS.c.id == _ASSIGNMENTS.c.version_id)
    )
    .order_by(_ASSIGNMENTS.c.id)
)
_BY_ID = _ROWS.where(_ASSIGNMENTS.c.id.in_(bindparam("ids", expanding=True)))
_PENDING = _ROWS.where(
    _ASSIGNMENTS.c.target_id.in_(bindparam("targets", expanding=True)),
    _ASSIGNMENTS.c.state == AssignmentState.PENDING.value,
)
_HEADS = (
    select(
        _STATES.c.target_id,
        _TARGETS.c.name,
        _STATES.c.desired_generation,
        _STATES.c.inventory_digest,
    )
    .select_from(_STATES.join(_TARGETS, _TARGETS.c.id == _STATES.c.target_id))
    .where(_STATES.c.target_id.in_(bindparam("targets", expanding=True)))
    .order_by(_STATES.c.target_id)
)
_CREDENTIALS = cast(Table, AgentCredential.__table__)
_AGENTS = (
    select(
        _CREDENTIALS.c.secret_hash,
        _CREDENTIALS.c.target_id,
        _CREDENTIALS.c.revoked_at,
        _TARGETS.c.name,
    )
    .select_from(_CREDENTIALS.join(_TARGETS, _TARGETS.c.id == _CREDENTIALS.c.target_id))
    .where(_CREDENTIALS.c.secret_hash.in_(bindparam("hashes", expanding=True)))
)
_MOVE = (
    update(_ASSIGNMENTS)
    .where(_ASSIGNMENTS.c.id == bindparam("b_id"))
    .values(
        state=bindparam("b_state"),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
        finished_at=bindparam("b_finished", type_=UTCDateTime()),
        reason=func.coalesce(bindparam("b_reason"), _ASSIGNMENTS.c.reason),
        output=func.coalesce(bindparam("b_output"), _ASSIGNMENTS.c.output),
    )
)
_ADD_EVENTS = insert(cast(Table, AssignmentEvent.__table__))
_ADD_RECORDS = insert(cast(Table, InstallRecord.__table__))
_FORGET_INSTALLED = delete(_INSTALLED).where(
    _INSTALLED.c.target_id == bindparam("b_target"),
    _INSTALLED.c.component_id == bindparam("b_component"),
)
_ADD_INSTALLED = insert(_INSTALLED)
_MOVE_STATE = (
    update(_STATES)
    .where(_STATES.c.target_id == bindparam("b_target"))
    .values(
        desired_generation=_STATES.c.desired_generation + bindparam("b_moves"),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
        last_report_at=func.coalesce(
            bindparam("b_reported", type_=UTCDateTime()), _STATES.c.last_report_at
        ),
    )
)
_STORE_INVENTORY = (
    update(_STATES)
    .where(_STATES.c.target_id == bindparam("b_target"))
    .values(
        inventory=bindparam("b_inventory", type_=_STATES.c.inventory.type),
        inventory_digest=bindparam("b_digest"),
        last_report_at=bindparam("b_now", type_=UTCDateTime()),
        updated_at=bindparam("b_now", type_=UTCDateTime()),
    )
)

_OUTCOMES = frozenset(
    {AssignmentState.SUCCEEDED, AssignmentState.FAILED, AssignmentState.ROLLED_BACK}
)


@dataclass(slots=True)
class Row:
    """What a move reads of an assignment; ``state`` follows the moves made in the batch."""

    id: int
    target_id: int
    target: str
    component_id: int
    component: str
    version_id: int
    version: str
    digest: str
    action: str
    deployment_id: int | None
    state: str


def move_entry(
    actor: str,
    row: Row,
    current: AssignmentState,
    wanted: AssignmentState,
    reason: str | None,
) -> audit.Entry:
    """The audit event of an assignment's move."""
    return audit.Entry(
        actor=actor,
        action=f"assignment.{wanted.value}",
        subject_type="assignment",
        subject_id=str(row.id),
        before={"state": current.value},
        after={
            "state": wanted.value,
            "target": row.target,
            "component": row.component,
            "version": row.version,
            "action": row.action,
        },
        reason=reason,
    )


@dataclass
class Writes:
    """The rows a batch writes, gathered before one statement per table sends them.

    Every move of an assignment is recorded through ``move``: a batch's many, and
    ``service.move_assignment``'s one."""

    now: datetime = field(default_factory=utcnow)
    moves: dict[int, dict[str, Any]] = field(default_factory=dict)  # by assignment id
    events: list[dict[str, Any]] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    forget: list[dict[str, Any]] = field(default_factory=list)
    installed: list[dict[str, Any]] = field(default_factory=list)
    generations: dict[int, int] = field(default_factory=dict)  # target id → moves
    reported: set[int] = field(default_factory=set)
    inventories: list[dict[str, Any]] = field(default_factory=list)
    entries: list[audit.Entry] = field(default_factory=list)

    def move(
        self,
        actor: str,
        row: Row,
        wanted: AssignmentState,
        *,
        by_agent: bool,
        reason: str | None = None,
        output: str | None = None,
        reported_at: datetime | None = None,
    ) -> bool:
        """Record ``row``'s move to ``wanted`` as ``service.move_assignment`` does.

        Returns:
            False when ``row`` already is in ``wanted`` (nothing to write).

        Raises:
            ConflictError: the rules do not allow the move.
        """
        current = AssignmentState(row.state)
        table = REPORT_TRANSITIONS if by_agent else SERVER_TRANSITIONS
        if not check_move(row.id, current, wanted, table):
            return False
        now = self.now
        kept_output = truncate_output(output)
        # One row update per assignment however many moves it made in the batch: its
        # last state, and the last reason and output given (each move has its event).
        earlier = self.moves.get(row.id)
        self.moves[row.id] = {
            "b_id": row.id,
            "b_state": wanted.value,
            "b_now": now,
            "b_finished": now if wanted.is_terminal else None,
            "b_reason": reason if reason is not None or earlier is None else earlier["b_reason"],
            "b_output": (
                kept_output if kept_output is not None or earlier is None else earlier["b_output"]
            ),
        }
        self.events.append(
            {
                "assignment_id": row.id,
                "from_state": current.value,
                "state": wanted.value,
                "actor": actor,
                "reason": reason,
                "output": kept_output,
                "reported_at": reported_at,
                "recorded_at": now,
            }
        )
        if wanted in _OUTCOMES:
            self._outcome(actor, row, wanted, reason)
        self.generations[row.target_id] = self.generations.get(row.target_id, 0) + 1
        self.entries.append(move_entry(actor, row, current, wanted, reason))
        row.state = wanted.value
        return True

    def _outcome(self, actor: str, row: Row, outcome: AssignmentState, reason: str | None) -> None:
        self.records.append(
            {
                "target_id": row.target_id,
                "component_id": row.component_id,
                "version_id": row.version_id,
                "action": row.action,
                "outcome": outcome.value,
                "digest": row.digest,
                "assignment_id": row.id,
                "deployment_id": row.deployment_id,
                "reason": reason,
                "actor": actor,
                "recorded_at": self.now,
            }
        )
        if outcome is not AssignmentState.SUCCEEDED:
            return  # failed or rolled back: the target runs what it ran before
        self.forget.append({"b_target": row.target_id, "b_component": row.component_id})
        if row.action == AssignmentAction.REMOVE.value:
            return
        self.installed.append(
            {
                "target_id": row.target_id,
                "component_id": row.component_id,
                "version_id": row.version_id,
                "digest": row.digest,
                "installed_at": self.now,
                "assignment_id": row.id,
                "deployment_id": row.deployment_id,
            }
        )

    def write(self, session: Session) -> None:
        connection = session.connection()
        _many(connection, _MOVE, list(self.moves.values()))
        _many(connection, _ADD_EVENTS, self.events)
        _many(connection, _ADD_RECORDS, self.records)
        _many(connection, _FORGET_INSTALLED, self.forget)
        _many(connection, _ADD_INSTALLED, self.installed)
        _many(connection, _STORE_INVENTORY, self.inventories)
        states = [
            {
                "b_target": target_id,
                "b_moves": moves,
                "b_now": self.now,
                "b_reported": self.now if target_id in self.reported else None,
            }
            for target_id, moves in sorted(self.generations.items())
        ]
        _many(connection, _MOVE_STATE, states)
        audit.record_many(session, self.entries)


def _many(connection: Connection, statement: Any, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(statement, rows)


# --- the calls --------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    """Why one report was refused: the error's code, HTTP status and message."""

    status: int
    code: str
    message: str
    details: dict[str, Any] | None = None

    @classmethod
    def of(cls, error: GoliveError) -> Refusal:
        return cls(error.http_status, error.code, error.message, error.details)


@dataclass(frozen=True)
class ReportCall:
    """An agent's reports (in the order it made them) and, optionally, its inventory."""

    target_id: int
    target: str
    reports: Sequence[Report]
    inventory: Inventory | None = None
    seen_etag: str | None = None  # the last desired state the agent received


@dataclass(frozen=True)
class AgentReport:
    """A ``ReportCall`` from an agent known so far only by its credential's sha256: the
    batch looks every such credential up in its own transaction (one read for all of
    them), and answers an unknown or revoked one with the error instead."""

    secret_hash: str
    reports: Sequence[Report]
    inventory: Inventory | None = None
    seen_etag: str | None = None


@dataclass
class ReportAnswer:
    """Each report's result; ``etag`` is the desired state's new ETag when the agent's
    view of it stays whole (nothing but its own reports moved it since ``seen_etag``),
    else None: the agent's next check-in fetches what changed."""

    results: list[dict[str, Any]]
    refusals: list[Refusal | None]
    etag: str | None
    inventory_digest: str | None
    target: str

    def as_body(self) -> dict[str, Any]:
        return {
            "results": self.results,
            "etag": self.etag,
            "inventory_digest": self.inventory_digest,
        }


@dataclass(frozen=True)
class HandOut:
    """A check-in that read pending assignments (its desired state at ``seen_etag``):
    mark them dispatched, for the answer tells the agent of them."""

    target_id: int
    seen_etag: str


@dataclass(frozen=True)
class HandOutAnswer:
    """The assignments dispatched, and the desired state's new ETag when nothing but
    this hand-out moved it since it was read (else None: keep the ETag read)."""

    dispatched: list[int]
    etag: str | None


Call = ReportCall | AgentReport | HandOut


def _actor(target: str) -> str:
    return f"agent:{target}"


def apply(session: Session, calls: Sequence[Call]) -> list[Any]:
    """Apply ``calls`` in the caller's write transaction; their answers, in order.

    A report's answer is a ``ReportAnswer`` (or, for an ``AgentReport`` whose credential
    is unknown or revoked, the ``AuthenticationError``), a hand-out's a
    ``HandOutAnswer``. Nothing is committed here.
    """
    known = _identified(session, calls)
    answered = iter(_apply(session, [call for call in known if not isinstance(call, GoliveError)]))
    return [call if isinstance(call, GoliveError) else next(answered) for call in known]


def _identified(
    session: Session, calls: Sequence[Call]
) -> list[ReportCall | HandOut | GoliveError]:
    """The calls with each ``AgentReport`` made a ``ReportCall`` of its target, or the
    error its credential earns."""
    hashes = sorted({call.secret_hash for call in calls if isinstance(call, AgentReport)})
    found = {}
    if hashes:
        found = {row[0]: row for row in session.connection().execute(_AGENTS, {"hashes": hashes})}
    known: list[ReportCall | HandOut | GoliveError] = []
    for call in calls:
        if not isinstance(call, AgentReport):
            known.append(call)
            continue
        agent = found.get(call.secret_hash)
        if agent is None:
            known.append(AuthenticationError("the agent credential is not valid"))
        elif agent.revoked_at is not None:
            known.append(revoked())
        else:
            known.append(
                ReportCall(
                    agent.target_id, agent.name, call.reports, call.inventory, call.seen_etag
                )
            )
    return known


def _apply(session: Session, calls: Sequence[ReportCall | HandOut]) -> list[Any]:
    connection = session.connection()
    reports = [call for call in calls if isinstance(call, ReportCall)]
    handouts = [call for call in calls if isinstance(call, HandOut)]
    ids = sorted({report.assignment_id for call in reports for report in call.reports})
    rows: dict[int, Row] = {}
    if ids:
        rows = {
            row.id: Row(*row) for row in connection.execute(_locked(session, _BY_ID), {"ids": ids})
        }
    pending: list[Row] = []
    if handouts:
        wanted = sorted({call.target_id for call in handouts})
        pending = [
            Row(*row) for row in connection.execute(_locked(session, _PENDING), {"targets": wanted})
        ]
    # The assignments' rows first, then the agent states': the order move_assignment
    # locks them in (PostgreSQL), so the two never wait on each other in a circle.
    target_ids = sorted({call.target_id for call in calls})
    heads = {
        row.target_id: row
        for row in connection.execute(
            _HEADS.with_for_update(of=_STATES) if _locks(session) else _HEADS,
            {"targets": target_ids},
        )
    }
    writes = Writes()
    dispatched: dict[int, list[int]] = {}
    for row in pending:
        writes.move(
            _actor(heads[row.target_id].name), row, AssignmentState.DISPATCHED, by_agent=False
        )
        dispatched.setdefault(row.target_id, []).append(row.id)
    refusals = {id(reporting): _reports(writes, reporting, rows) for reporting in reports}
    digests: dict[int, str | None] = {}
    for reporting in reports:  # the inventory after the reports: the agent's outbox order
        recorded = heads[reporting.target_id].inventory_digest
        digests[reporting.target_id] = _inventory(writes, reporting, recorded)
    writes.write(session)
    answers: list[Any] = []
    for call in calls:
        head = heads[call.target_id]
        if isinstance(call, HandOut):
            whole = call.seen_etag == etag(call.target_id, head.desired_generation)
            generation = head.desired_generation + writes.generations.get(call.target_id, 0)
            moved_on = etag(call.target_id, generation) if whole else None
            answers.append(HandOutAnswer(dispatched.get(call.target_id, []), moved_on))
            continue
        whole = call.seen_etag == etag(call.target_id, head.desired_generation)
        generation = head.desired_generation + writes.generations.get(call.target_id, 0)
        refused = refusals[id(call)]
        results = [
            {"assignment_id": report.assignment_id, "state": report.state.value}
            if refusal is None
            else {
                "assignment_id": report.assignment_id,
                "error": {
                    "code": refusal.code,
                    "message": refusal.message,
                    "status": refusal.status,
                },
            }
            for report, refusal in zip(call.reports, refused, strict=True)
        ]
        new_etag = etag(call.target_id, generation) if whole else None
        digest = digests[call.target_id]
        answers.append(ReportAnswer(results, refused, new_etag, digest, call.target))
    return answers


def _locks(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _locked(session: Session, statement: Any) -> Any:
    """``statement`` locking the assignments' rows on PostgreSQL (SQLite: the write lock)."""
    return statement.with_for_update(of=_ASSIGNMENTS) if _locks(session) else statement


def _reports(writes: Writes, call: ReportCall, rows: dict[int, Row]) -> list[Refusal | None]:
    refusals: list[Refusal | None] = []
    for report in call.reports:
        try:
            moved = _report(writes, call, report, rows)
        except GoliveError as error:
            refusals.append(Refusal.of(error))
            continue
        if moved:
            writes.reported.add(call.target_id)
        refusals.append(None)
    return refusals


def _report(writes: Writes, call: ReportCall, report: Report, rows: dict[int, Row]) -> bool:
    """One report (``service`` documents the rules: docs/agent-protocol.md, "Reports")."""
    if report.state not in REPORTABLE:
        shown = ", ".join(state.value for state in AssignmentState if state in REPORTABLE)
        raise InvalidInputError(f"an agent reports one of {shown}, not {report.state.value}")
    row = rows.get(report.assignment_id)
    if row is None or row.target_id != call.target_id:
        raise NotFoundError(
            f"assignment {report.assignment_id} is not one of target {call.target}'s",
            details={"assignment_id": report.assignment_id},
        )
    return writes.move(
        _actor(call.target),
        row,
        report.state,
        by_agent=True,
        reason=report.reason,
        output=report.output,
        reported_at=report.at,
    )


def _inventory(writes: Writes, call: ReportCall, recorded: str | None) -> str | None:
    """Store the call's inventory when it changed; the target's inventory digest after."""
    spec = call.inventory
    if spec is None:
        return recorded
    body = spec.model_dump(mode="json", exclude_unset=True)
    digest = inventory_digest(body)
    if digest == recorded:
        return digest
    stored = {
        "installed": sorted(
            (entry.model_dump(mode="json") for entry in spec.installed),
            key=lambda entry: str(entry["component"]),
        ),
        "unauthorised": [entry.model_dump(mode="json") for entry in spec.unauthorised],
    }
    writes.inventories.append(
        {"b_target": call.target_id, "b_inventory": stored, "b_digest": digest, "b_now": writes.now}
    )
    actor = _actor(call.target)
    writes.entries.append(
        audit.Entry(
            actor=actor,
            action="agent.inventory",
            subject_type="target",
            subject_id=call.target,
            after={
                "digest": digest,
                "installed": len(spec.installed),
                "unauthorised": len(spec.unauthorised),
            },
        )
    )
    if spec.unauthorised:
        writes.entries.append(
            audit.Entry(
                actor=actor,
                action="agent.unauthorised",
                subject_type="target",
                subject_id=call.target,
                after={"unauthorised": stored["unauthorised"]},
                reason="the agent found a component's current release where golive never put it",
            )
        )
    return digest


# --- the writer ------------------------------------------------------------------------


class GroupWriter:
    """A thread that applies the calls given to ``submit`` in shared transactions.

    Whatever arrived while the previous transaction ran goes into the next one (up to
    ``max_batch`` calls), so under load each commit carries many agents' reports, and a
    lone call waits for no one.
    """

    def __init__(self, db: Database, *, max_batch: int = 500) -> None:
        self._db = db
        self._max = max_batch
        self._queue: SimpleQueue[tuple[Call, Future[Any]] | None] = SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="golive-group-writer", daemon=True)
        self._started = False
        self._lock = threading.Lock()

    def submit(self, call: Call) -> Future[Any]:
        with self._lock:
            if not self._started:
                self._thread.start()
                self._started = True
        answer: Future[Any] = Future()
        self._queue.put((call, answer))
        return answer

    def close(self) -> None:
        with self._lock:
            if self._started:
                self._queue.put(None)
                self._thread.join(timeout=30)
                self._started = False

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stopping = False
            while len(batch) < self._max:
                try:
                    more = self._queue.get_nowait()
                except Empty:
                    break
                if more is None:
                    stopping = True
                    break
                batch.append(more)
            self._apply(batch)
            if stopping:
                return

    def apply_together(self, calls: Sequence[Call]) -> list[Future[Any]]:
        """Apply ``calls`` as one batch in this thread (what the writer does with each
        batch it collects); their answers, settled."""
        batch: list[tuple[Call, Future[Any]]] = [(call, Future()) for call in calls]
        self._apply(batch)
        return [answer for _, answer in batch]

    def _apply(self, batch: list[tuple[Call, Future[Any]]]) -> None:
        calls = [call for call, _ in batch]
        try:
            with self._db.writing() as session:
                answers = apply(session, calls)
        except Exception as problem:
            if len(batch) == 1:
                batch[0][1].set_exception(problem)
                return
            log.warning(
                "a batch of %d agent calls failed (%s); applying each alone", len(batch), problem
            )
            for one in batch:
                self._apply([one])
            return
        for (_, future), answer in zip(batch, answers, strict=True):
            future.set_result(answer)
