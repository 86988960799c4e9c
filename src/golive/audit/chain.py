"""Audit events and their hash chain.

Each event's hash is sha256 over a canonical JSON form of the event that
includes the previous event's hash, so editing, deleting or reordering any
event breaks every hash after it. A one-row head table holds the last sequence
number and hash; locking it serialises writers on PostgreSQL (SQLite
serialises every write transaction already) and lets verification notice a
truncated tail.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import (
    JSON,
    BigInteger,
    Index,
    Integer,
    String,
    Table,
    Text,
    bindparam,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Mapped, Session, mapped_column

from golive.db import Base

GENESIS_HASH = "0" * 64
_HEAD_ID = 1


class AuditEvent(Base):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_subject", "subject_type", "subject_id"),)

    seq: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False
    )
    occurred_at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(128), index=True)
    action: Mapped[str] = mapped_column(String(128), index=True)
    subject_type: Mapped[str] = mapped_column(String(64))
    subject_id: Mapped[str] = mapped_column(String(256))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))

    def as_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "occurred_at": self.occurred_at,
            "actor": self.actor,
            "action": self.action,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "before": self.before,
            "after": self.after,
            "reason": self.reason,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
        }


class AuditHead(Base):
    """The chain's tip: one row, locked by every writer."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    hash: Mapped[str] = mapped_column(String(64))


# The tables themselves: plain Core statements skip the ORM's bulk-insert machinery.
_EVENTS = cast(Table, AuditEvent.__table__)
_HEAD = cast(Table, AuditHead.__table__)
# Built once: ``record`` runs in every write transaction, and a statement built per call
# costs more to coerce and cache-key than it costs SQLite to run.
_READ_HEAD = select(_HEAD.c.seq, _HEAD.c.hash).where(_HEAD.c.id == _HEAD_ID).with_for_update()
_APPEND = insert(_EVENTS)
_START_HEAD = insert(_HEAD).values(id=_HEAD_ID, seq=bindparam("seq"), hash=bindparam("hash"))
_MOVE_HEAD = (
    update(_HEAD).where(_HEAD.c.id == _HEAD_ID).values(seq=bindparam("seq"), hash=bindparam("hash"))
)


def timestamp(moment: datetime | None = None) -> str:
    """UTC time as fixed-width ISO 8601 with microseconds and a Z."""
    moment = (moment or datetime.now(UTC)).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_form(event: dict[str, Any]) -> bytes:
    """The bytes an event's hash covers: every field but the hash, as sorted compact JSON."""
    body = {key: value for key, value in event.items() if key != "hash"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def event_hash(event: dict[str, Any]) -> str:
    return hashlib.sha256(canonical_form(event)).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    """One event to append with ``record_many``: what happened, without its place in
    the chain (sequence number, time, previous hash), which appending gives it."""

    actor: str
    action: str
    subject_type: str
    subject_id: str
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None
    reason: str | None = None


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> AuditEvent:
    """Append one event to the chain inside the caller's transaction.

    The caller's commit makes the change and its event durable together; a
    rollback discards both.
    """
    entry = Entry(actor, action, subject_type, subject_id, before, after, reason)
    [fields] = record_many(session, [entry])
    return AuditEvent(**fields)


def record_many(session: Session, entries: Iterable[Entry]) -> list[dict[str, Any]]:
    """Append ``entries`` to the chain, in order, inside the caller's transaction.

    One read and one move of the head and one multi-row insert for all of them: the
    agents' reports of many targets are recorded in one transaction this way.

    Returns:
        The events' stored fields, in order.
    """
    # Pending changes first, so the events follow them (and foreign keys hold).
    session.flush()
    # Core statements on the session's connection, not ORM objects: this runs in every
    # write transaction.
    connection = session.connection()
    head = connection.execute(_READ_HEAD).one_or_none()
    last_seq, last_hash = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    moment = timestamp()
    appended: list[dict[str, Any]] = []
    for entry in entries:
        fields: dict[str, Any] = {
            "seq": last_seq + 1,
            "occurred_at": moment,
            "actor": entry.actor,
            "action": entry.action,
            "subject_type": entry.subject_type,
            "subject_id": entry.subject_id,
            "before": _jsonable(entry.before),
            "after": _jsonable(entry.after),
            "reason": entry.reason,
            "prev_hash": last_hash,
        }
        fields["hash"] = event_hash(fields)
        appended.append(fields)
        last_seq, last_hash = fields["seq"], fields["hash"]
    if not appended:
        return appended
    connection.execute(_APPEND, appended)
    moved = {"seq": last_seq, "hash": last_hash}
    connection.execute(_START_HEAD if head is None else _MOVE_HEAD, moved)
    return appended


def record_update(
    session: Session,
    *,
    actor: str,
    subject_type: str,
    subject_id: str,
    before: dict[str, Any],
    after: dict[str, Any],
    reason: str | None = None,
) -> bool:
    """Record ``<subject_type>.update`` with only the fields that changed.

    ``updated_at`` is not a change of its own. Returns False (and records nothing)
    when nothing changed.
    """
    keys = sorted(key for key in after if key != "updated_at" and after[key] != before.get(key))
    if not keys:
        return False
    record(
        session,
        actor=actor,
        action=f"{subject_type}.update",
        subject_type=subject_type,
        subject_id=subject_id,
        before={key: before.get(key) for key in keys},
        after={key: after[key] for key in keys},
        reason=reason or None,
    )
    return True


def _jsonable(summary: dict[str, Any] | None) -> dict[str, Any] | None:
    # Round-trip through JSON so the hashed form equals what the database returns.
    if summary is None:
        return None
    if all(isinstance(k, str) and type(v) in _PLAIN for k, v in summary.items()):
        return dict(summary)  # already what JSON gives back (most events' summaries)
    result: dict[str, Any] = json.loads(json.dumps(summary, default=str))
    return result


_PLAIN = frozenset({str, int, bool, type(None)})


@dataclass(frozen=True)
class ChainVerdict:
    """The result of checking a chain: ``broken_seq`` is the first bad event, if any."""

    ok: bool
    checked: int
    last_seq: int
    last_hash: str
    broken_seq: int | None = None
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "last_seq": self.last_seq,
            "last_hash": self.last_hash,
            "broken_seq": self.broken_seq,
            "problem": self.problem,
        }


def verify_events(
    events: Iterable[dict[str, Any]],
    *,
    expected_head: tuple[int, str] | None = None,
) -> ChainVerdict:
    """Recompute the chain over events in sequence order.

    Args:
        events: event dicts as ``AuditEvent.as_dict`` gives them (or an export's lines).
        expected_head: the (seq, hash) the chain must end on, when known.

    Returns:
        A verdict naming the first sequence number whose event does not check out.
    """
    previous_hash = GENESIS_HASH
    expected_seq = 1
    checked = 0
    for event in events:
        seq = int(event["seq"])
        if seq != expected_seq:
            return _broken(
                checked,
                expected_seq - 1,
                previous_hash,
                expected_seq,
                f"expected event {expected_seq} but found {seq}: events are missing",
            )
        if event["prev_hash"] != previous_hash:
            return _broken(
                checked,
                seq - 1,
                previous_hash,
                seq,
                "its previous-hash does not match the event before it",
            )
        if event_hash(event) != event["hash"]:
            return _broken(
                checked,
                seq - 1,
                previous_hash,
                seq,
                "its content does not match its hash: the event was altered",
            )
        previous_hash = event["hash"]
        expected_seq += 1
        checked += 1
    last_seq = expected_seq - 1
    if expected_head is not None and expected_head != (last_seq, previous_hash):
        head_seq, _ = expected_head
        return _broken(
            checked,
            last_seq,
            previous_hash,
            min(head_seq, last_seq + 1),
            f"the chain ends at event {last_seq} but its head records event {head_seq}",
        )
    return ChainVerdict(True, checked, last_seq, previous_hash)


def _broken(checked: int, last_seq: int, last_hash: str, seq: int, problem: str) -> ChainVerdict:
    return ChainVerdict(False, checked, last_seq, last_hash, broken_seq=seq, problem=problem)


def stored_events(session: Session, batch: int = 1000) -> Iterator[dict[str, Any]]:
    """Every stored event in sequence order, read in batches."""
    after = 0
    while True:
        rows = session.scalars(
            select(AuditEvent).where(AuditEvent.seq > after).order_by(AuditEvent.seq).limit(batch)
        ).all()
        if not rows:
            return
        for row in rows:
            yield row.as_dict()
        after = rows[-1].seq


def verify_stored(session: Session) -> ChainVerdict:
    """Verify the chain in the database against its recorded head."""
    head = session.get(AuditHead, _HEAD_ID)
    expected = (head.seq, head.hash) if head is not None else (0, GENESIS_HASH)
    return verify_events(stored_events(session), expected_head=expected)
