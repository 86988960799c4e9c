"""Stored windows, the schedule (changes, deployments, windows and their conflicts) and
its iCalendar feed. The arithmetic is in ``windows`` and ``schedule``; this module reads
and writes the records.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from icalendar import Calendar, Event, vRecur
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.auth.service import Actor
from golive.changes.models import ChangeRequest, WindowRecord
from golive.changes.rules import ChangeState
from golive.changes.schedule import Conflict, Entry, conflicts
from golive.changes.windows import Window, occurrences
from golive.db import utcnow
from golive.errors import ConflictError, InvalidInputError, NotFoundError
from golive.inventory.models import Target

# How far ``schedule`` looks when no range is given, and the longest range it accepts.
DEFAULT_SPAN = timedelta(days=30)
MAX_SPAN = timedelta(days=400)
# A running deployment with nothing to go on is assumed to take this long.
MIN_DEPLOYMENT = timedelta(minutes=30)
SCHEDULED_CHANGES = (ChangeState.SUBMITTED, ChangeState.AUTHORISED, ChangeState.IMPLEMENTED)


# --- windows ----------------------------------------------------------------------------


def _window_of(record: WindowRecord) -> Window:
    return Window.parse(
        {
            "name": record.name,
            "kind": record.kind,
            "tz": record.tz,
            "start": record.start_local,
            "end": record.end_local,
            "duration": record.duration_seconds,
            "rrule": record.rrule,
            "exdates": list(record.exdates),
            "scope": {
                "environments": list(record.environments),
                "labels": dict(record.target_labels),
                "components": list(record.components),
            },
        }
    )


def get_window(session: Session, name: str) -> WindowRecord:
    found = session.scalars(select(WindowRecord).where(WindowRecord.name == name)).one_or_none()
    if found is None:
        raise NotFoundError(f"window {name!r} not found", details={"window": name})
    return found


def list_windows(session: Session, *, kind: str | None = None) -> list[WindowRecord]:
    query = select(WindowRecord).order_by(WindowRecord.name)
    if kind is not None:
        query = query.where(WindowRecord.kind == kind)
    return list(session.scalars(query))


def all_windows(session: Session) -> list[Window]:
    return [_window_of(record) for record in list_windows(session)]


def create_window(
    session: Session, actor: Actor, definition: dict[str, Any], description: str = ""
) -> WindowRecord:
    """Check ``definition`` (the shape ``Window.parse`` reads) and store it."""
    window = Window.parse(definition)
    if session.scalar(select(WindowRecord.id).where(WindowRecord.name == window.name)):
        raise ConflictError(f"window {window.name!r} already exists")
    now = utcnow()
    record = WindowRecord(
        name=window.name,
        kind=window.kind,
        description=description,
        tz=window.tz,
        start_local=window.start.isoformat(),
        end_local=window.end.isoformat() if window.end is not None else None,
        duration_seconds=(
            int(window.duration.total_seconds()) if window.duration is not None else None
        ),
        rrule=window.rrule,
        exdates=[exdate.isoformat() for exdate in window.exdates],
        environments=sorted(window.scope.environments),
        components=sorted(window.scope.components),
        target_labels=dict(window.scope.labels),
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(record)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="window.create",
        subject_type="window",
        subject_id=record.name,
        after=record.as_dict(),
    )
    return record


def delete_window(session: Session, actor: Actor, name: str, reason: str) -> None:
    record = get_window(session, name)
    before = record.as_dict()
    session.delete(record)
    audit.record(
        session,
        actor=actor.name,
        action="window.delete",
        subject_type="window",
        subject_id=name,
        before=before,
        reason=reason or None,
    )


def describe_window(record: WindowRecord, since: datetime, until: datetime) -> dict[str, Any]:
    shown = record.as_dict()
    shown["next"] = [
        {"start": period.start.isoformat(), "end": period.end.isoformat()}
        for period in occurrences(_window_of(record), since, until)[:10]
    ]
    return shown


# --- the schedule -------------------------------------------------------------------------


@dataclass(frozen=True)
class Schedule:
    since: datetime
    until: datetime
    entries: list[Entry]
    windows: list[tuple[Window, list[tuple[datetime, datetime]]]]
    conflicts: list[Conflict]

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.since.isoformat(),
            "to": self.until.isoformat(),
            "changes": [e.as_dict() for e in self.entries if e.kind == "change"],
            "deployments": [e.as_dict() for e in self.entries if e.kind == "deployment"],
            "windows": [
                {
                    "name": window.name,
                    "kind": window.kind,
                    "scope": window.as_dict()["scope"],
                    "occurrences": [
                        {"start": start.isoformat(), "end": end.isoformat()}
                        for start, end in periods
                    ],
                }
                for window, periods in self.windows
            ],
            "conflicts": [c.as_dict() for c in self.conflicts],
        }


def span(since: datetime | None, until: datetime | None) -> tuple[datetime, datetime]:
    """The range asked for, defaulted and checked."""
    begin = since or utcnow()
    end = until or begin + DEFAULT_SPAN
    if begin.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError("give --from and --to with a time zone offset, e.g. …Z")
    if end <= begin:
        raise InvalidInputError("the schedule's end (to) must be after its start (from)")
    if end - begin > MAX_SPAN:
        raise InvalidInputError(f"ask for at most {MAX_SPAN.days} days at a time")
    return begin, end


def _labels_of(session: Session, names: Iterable[str]) -> dict[str, dict[str, str]]:
    wanted = sorted(set(names))
    if not wanted:
        return {}
    found: dict[str, dict[str, str]] = {}
    for start in range(0, len(wanted), 500):
        rows = session.execute(
            select(Target.name, Target.labels).where(Target.name.in_(wanted[start : start + 500]))
        )
        found.update({row.name: dict(row.labels) for row in rows})
    return found


def _change_entries(session: Session, since: datetime, until: datetime) -> list[Entry]:
    changes = session.scalars(
        select(ChangeRequest)
        .where(ChangeRequest.state.in_([state.value for state in SCHEDULED_CHANGES]))
        .options(selectinload(ChangeRequest.approvals), selectinload(ChangeRequest.model))
    )
    entries = []
    for change in changes:
        labels = _labels_of(session, change.targets) if change.targets else None
        for planned in change.planned_windows:
            start = datetime.fromisoformat(planned["start"])
            end = datetime.fromisoformat(planned["end"])
            if start >= until or end <= since:
                continue
            for environment in change.environments:
                entries.append(
                    Entry(
                        kind="change",
                        ref=change.ref,
                        title=change.title,
                        start=start,
                        end=end,
                        environment=environment,
                        state=change.state,
                        components=frozenset(change.components),
                        targets=labels,
                    )
                )
    return entries


def _deployment_entries(session: Session, since: datetime, until: datetime) -> list[Entry]:
    # Imported here: deployments consult change control (windows) when they plan and
    # run, so change control reads deployments only when it draws the schedule.
    from golive.deployments.models import ACTIVE, Deployment
    from golive.deployments.service import plan_of
    from golive.deployments.strategies import estimate

    now = utcnow()
    found = session.scalars(
        select(Deployment)
        .where(
            or_(
                Deployment.state.in_([state.value for state in ACTIVE]),
                Deployment.finished_at >= since,
            )
        )
        .options(selectinload(Deployment.versions), selectinload(Deployment.environment))
    )
    entries = []
    for deployment in found:
        start = deployment.started_at or deployment.planned_start or deployment.created_at
        if deployment.finished_at is not None:
            end = deployment.finished_at
        else:
            expected = estimate(plan_of(deployment), 60)
            end = max(start + max(expected, MIN_DEPLOYMENT), now)
        if start >= until or end <= since:
            continue
        names = [name for wave in deployment.waves for name in wave]
        entries.append(
            Entry(
                kind="deployment",
                ref=f"deployment {deployment.id}",
                title=", ".join(deployment.refs),
                start=start,
                end=end,
                environment=deployment.environment.name,
                state=deployment.state,
                components=frozenset(item.component.name for item in deployment.versions),
                targets=_labels_of(session, names),
                change_ref=deployment.change_ref,
            )
        )
    return entries


def schedule(session: Session, since: datetime | None, until: datetime | None) -> Schedule:
    begin, end = span(since, until)
    entries = sorted(
        _change_entries(session, begin, end) + _deployment_entries(session, begin, end),
        key=lambda e: (e.start, e.ref),
    )
    windows = all_windows(session)
    # Conflicts look a little wider than the range so work crossing its edges is judged whole.
    clashes = [c for c in conflicts(entries, windows) if c.start < end and c.end > begin]
    shown = [
        (window, [(p.start, p.end) for p in occurrences(window, begin, end)]) for window in windows
    ]
    return Schedule(begin, end, entries, shown, clashes)


def ics(plan: Schedule, prodid: str = "-//golive//schedule//EN") -> bytes:
    """The schedule as an iCalendar feed: windows as recurring events with their rule and
    time zone (calendar clients expand them), changes and deployments as single events,
    conflicts named in the summary."""
    calendar = Calendar()
    calendar.add("prodid", prodid)
    calendar.add("version", "2.0")
    calendar.add("x-wr-calname", "golive schedule")
    stamp = utcnow()
    clashing = {ref for conflict in plan.conflicts for ref in conflict.refs}
    for window, _periods in plan.windows:
        event = Event()
        event.add("uid", f"window-{window.name}@golive")
        event.add("dtstamp", stamp)
        event.add(
            "summary", f"{'Maintenance' if window.kind == 'allow' else 'Freeze'}: {window.name}"
        )
        event.add("dtstart", window.start.replace(tzinfo=window.zone))
        event.add("dtend", window.start.replace(tzinfo=window.zone) + window.length)
        if window.rrule:
            event.add("rrule", vRecur.from_ical(window.rrule))
        for exdate in window.exdates:
            event.add("exdate", exdate.replace(tzinfo=window.zone))
        event.add("categories", [window.kind])
        calendar.add_component(event)
    for entry in plan.entries:
        event = Event()
        key = entry.ref.replace(" ", "-")
        event.add("uid", f"{key}-{entry.environment}-{entry.start:%Y%m%dT%H%M%S}@golive")
        event.add("dtstamp", stamp)
        mark = "CONFLICT " if entry.ref in clashing else ""
        event.add("summary", f"{mark}{entry.ref} ({entry.state}) {entry.title}")
        event.add("dtstart", entry.start)
        event.add("dtend", entry.end)
        event.add("location", entry.environment)
        event.add("categories", [entry.kind])
        calendar.add_component(event)
    data: bytes = calendar.to_ical()
    return data
