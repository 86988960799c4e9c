"""The schedule laid out as a week or a month of days (pure: no I/O).

Input is ``golive.changes.calendar.Schedule.as_dict()``: windows with their occurrences,
changes' planned windows, deployments, and the conflicts among them. Each day lists what
touches it (in UTC); anything named in a conflict is marked so the page can highlight it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class Item:
    kind: str  # allow, deny, change, deployment
    ref: str
    title: str
    start: datetime
    end: datetime
    state: str = ""
    environment: str = ""
    clash: bool = False
    href: str | None = None


@dataclass(frozen=True)
class Day:
    day: date
    items: tuple[Item, ...]
    outside: bool = False  # a day of the grid outside the month shown
    today: bool = False


def span_of(view: str, anchor: date) -> tuple[date, date]:
    """The first and the day after the last day of the grid for ``view`` around ``anchor``:
    a week from Monday, or the month's weeks from the Monday on or before its first day."""
    if view == "month":
        first = anchor.replace(day=1)
        start = first - timedelta(days=first.weekday())
        following = (first + timedelta(days=32)).replace(day=1)
        end = following + timedelta(days=(7 - following.weekday()) % 7)
        return start, end
    start = anchor - timedelta(days=anchor.weekday())
    return start, start + timedelta(days=7)


def _moment(text: str) -> datetime:
    found = datetime.fromisoformat(text)
    return found if found.tzinfo is not None else found.replace(tzinfo=UTC)


def items_of(plan: Mapping[str, Any]) -> list[Item]:
    """Every window occurrence, change window and deployment of a schedule, as items."""
    clashing = {ref for c in plan["conflicts"] for ref in c["refs"]}
    clashing_windows = {name for c in plan["conflicts"] for name in c.get("windows", [])}
    items: list[Item] = []
    for window in plan["windows"]:
        title = ("Maintenance: " if window["kind"] == "allow" else "Freeze: ") + window["name"]
        for period in window["occurrences"]:
            items.append(
                Item(
                    kind=window["kind"],
                    ref=window["name"],
                    title=title,
                    start=_moment(period["start"]),
                    end=_moment(period["end"]),
                    clash=window["name"] in clashing_windows,
                )
            )
    for entry in plan["changes"] + plan["deployments"]:
        ref = entry["ref"]
        href = (
            f"/console/changes/{ref}"
            if entry["kind"] == "change"
            else f"/console/deployments/{ref.removeprefix('deployment ').strip()}"
        )
        items.append(
            Item(
                kind=entry["kind"],
                ref=ref,
                title=entry["title"],
                start=_moment(entry["start"]),
                end=_moment(entry["end"]),
                state=entry["state"],
                environment=entry["environment"],
                clash=ref in clashing,
                href=href,
            )
        )
    return sorted(items, key=lambda i: (i.start, i.kind, i.ref))


def days_of(
    items: list[Item], start: date, end: date, *, month: int | None, today: date
) -> list[Day]:
    """The days ``[start, end)`` with the items that touch each (in UTC)."""
    days: list[Day] = []
    day = start
    while day < end:
        begin = datetime.combine(day, time.min, tzinfo=UTC)
        after = begin + timedelta(days=1)
        touching = tuple(i for i in items if i.start < after and i.end > begin)
        days.append(
            Day(
                day=day,
                items=touching,
                outside=month is not None and day.month != month,
                today=day == today,
            )
        )
        day += timedelta(days=1)
    return days
