"""Change windows as pure functions: when a deployment may run (docs/adr/0006-change-windows.md).

A window is an allow (maintenance) or deny (blackout, freeze) period, one-off or recurring
by an RFC 5545 RRULE that python-dateutil expands, anchored at a local wall-clock start in
an IANA time zone and scoped by environment, target labels and components. Nothing here
reads a clock or a database, and every search is bounded by the range or horizon it is given.

The rules, from RFC 5545 where it has one:

- ``start``, ``end`` and ``exdates`` are local wall-clock times in the window's zone; a
  recurrence keeps its wall-clock time across daylight-saving changes. Results are UTC.
- A local time inside a spring-forward gap is read with the UTC offset before the gap, so it
  happens later by the length of the gap; an ambiguous fall-back time is its first
  occurrence (fold=0). Both are RFC 5545 3.3.5.
- A duration is exact elapsed time; an ``end`` fixes the elapsed length of every occurrence.
- UNTIL is inclusive and given in UTC; COUNT counts occurrences from ``start``.
- Periods are half-open: open at their start, closed again at their end.
- A deny window beats an allow window.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any, Literal, TypeAlias, get_args
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from dateutil import rrule as recurrence

from golive.deployments.strategies.waves import format_duration, parse_duration
from golive.errors import InvalidInputError

WindowKind: TypeAlias = Literal["allow", "deny"]
KINDS: tuple[str, ...] = get_args(WindowKind)

HORIZON = timedelta(days=400)
"""How far past the moment asked about ``evaluate`` looks for an opening or a closing."""

# Sub-daily rules cost one step per hour from the first start; a window that recurs several
# times a day says so with BYHOUR (FREQ=DAILY;BYHOUR=0,6,12,18).
_FREQUENCIES = ("DAILY", "WEEKLY", "MONTHLY", "YEARLY")
_SUB_DAILY = ("HOURLY", "MINUTELY", "SECONDLY")
# The Gregorian calendar repeats every 400 years, weekdays included, so a rule matches some
# date at all exactly when it matches one in any 400-year span; the span must end before
# datetime.MAXYEAR, where dateutil stops looking.
_CALENDAR_CYCLE_YEARS = 400
_LAST_PROBE_YEAR = 9599
_FIELDS = frozenset({"name", "kind", "tz", "start", "duration", "end", "rrule", "exdates", "scope"})
_SCOPE_FIELDS = frozenset({"environments", "labels", "components"})


@dataclass(frozen=True, order=True)
class Interval:
    """A half-open period ``[start, end)`` between two time-zone-aware instants (UTC here)."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.start.utcoffset() is None or self.end.utcoffset() is None:
            raise InvalidInputError("an interval needs time-zone-aware instants")
        if self.end <= self.start:
            raise InvalidInputError(
                f"an interval must end after it starts; got {self.start.isoformat()} "
                f"to {self.end.isoformat()}"
            )

    def __contains__(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


@dataclass(frozen=True)
class WindowScope:
    """The deployments a window applies to; an empty part matches every deployment.

    Attributes:
        environments: environment names; the deployment's environment must be one of them.
        labels: a label selector; the target must carry every key with the same value.
        components: component names; the deployment must move at least one of them.
    """

    environments: frozenset[str] = frozenset()
    labels: Mapping[str, str] = field(default_factory=dict)
    components: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        # Lists from JSON are welcome; a bare string would become a set of letters.
        for part in ("environments", "components"):
            names = getattr(self, part)
            if isinstance(names, str) or not all(isinstance(name, str) and name for name in names):
                raise InvalidInputError(f"a window's {part} must be a list of names")
            object.__setattr__(self, part, frozenset(names))
        if not isinstance(self.labels, Mapping) or not all(
            isinstance(key, str) and key and isinstance(value, str)
            for key, value in self.labels.items()
        ):
            raise InvalidInputError("a window's labels must map label keys to values")
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))

    def matches(
        self, environment: str, target_labels: Mapping[str, str], components: Collection[str]
    ) -> bool:
        """Whether a deployment of ``components`` to ``environment`` on the target is in scope."""
        if self.environments and environment not in self.environments:
            return False
        if any(target_labels.get(key) != value for key, value in self.labels.items()):
            return False
        return not self.components or not self.components.isdisjoint(components)


@dataclass(frozen=True)
class Window:
    """An allow or deny window, checked when it is made.

    Attributes:
        name: how people and verdicts refer to the window.
        kind: ``allow`` (a maintenance window) or ``deny`` (a blackout or freeze).
        tz: the IANA time zone of ``start``, ``end`` and ``exdates``, like ``Europe/London``.
        start: the first start, a local wall-clock time without a UTC offset, in whole
            seconds; the DTSTART of ``rrule``.
        duration: how long each occurrence lasts, in elapsed time. Give this or ``end``.
        end: the end of the first occurrence, a local wall-clock time; every occurrence
            then lasts as long as the first.
        rrule: an RFC 5545 RRULE value such as ``FREQ=WEEKLY;BYDAY=SA;BYHOUR=22``, or None
            for a one-off window.
        exdates: local wall-clock starts of occurrences that do not happen (RFC 5545 EXDATE).
        scope: the deployments the window applies to.
        length: the elapsed time of each occurrence (from ``duration`` or ``end``).

    Raises:
        InvalidInputError: any part is malformed or the parts contradict each other.
    """

    name: str
    kind: WindowKind
    tz: str
    start: datetime
    duration: timedelta | None = None
    end: datetime | None = None
    rrule: str | None = None
    exdates: tuple[datetime, ...] = ()
    scope: WindowScope = WindowScope()
    length: timedelta = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise InvalidInputError("a window needs a name")
        if self.kind not in KINDS:
            raise InvalidInputError(
                f"window {self.name}: kind must be allow or deny; got {self.kind!r}"
            )
        zone = _zone(self.tz, self.name)
        _check_local(self.start, "start", self.name)
        if (self.duration is None) == (self.end is None):
            given = "both" if self.duration is not None else "neither"
            raise InvalidInputError(
                f"window {self.name}: give either a duration or an end; {given} was given"
            )
        if self.duration is not None and not isinstance(self.duration, timedelta):
            raise InvalidInputError(f"window {self.name}: the duration must be a timedelta")
        if self.end is not None:
            _check_local(self.end, "end", self.name)
            begins, ends = _instant(self.start, zone), _instant(self.end, zone)
            if ends < begins:
                raise InvalidInputError(
                    f"window {self.name}: the end ({self.end.isoformat()}) is before the "
                    f"start ({self.start.isoformat()})"
                )
            length = ends - begins
        else:
            length = self.duration or timedelta(0)
        if length <= timedelta(0):
            raise InvalidInputError(
                f"window {self.name}: a window must last longer than zero; "
                f"got {length.total_seconds():g} seconds"
            )
        object.__setattr__(self, "length", length)
        object.__setattr__(self, "exdates", tuple(self.exdates))
        for exdate in self.exdates:
            _check_local(exdate, "excluded start", self.name)
        if self.rrule is None:
            if self.exdates:
                raise InvalidInputError(
                    f"window {self.name}: excluded starts need a recurrence rule"
                )
        elif not isinstance(self.rrule, str):
            raise InvalidInputError(f"window {self.name}: the recurrence rule must be text")
        else:
            _recurrence(self.rrule, self.tz, self.start, self.exdates, self.name)
        if not isinstance(self.scope, WindowScope):
            raise InvalidInputError(f"window {self.name}: the scope must be a WindowScope")

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    @property
    def first(self) -> Interval:
        """The occurrence that begins at ``start`` (the only one of a one-off window)."""
        begins = _instant(self.start, self.zone)
        return Interval(begins, begins + self.length)

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Window:
        """A window from JSON-shaped data, as the API and the CLI receive it.

        Times are ISO 8601 local wall-clock times without an offset
        (``2026-12-24T18:00:00``); ``duration`` is ``2h``, ``1h30m`` or a number of seconds;
        ``scope`` holds ``environments`` and ``components`` (lists of names) and ``labels``
        (a mapping). A key set to None counts as absent.

        Raises:
            InvalidInputError: an unknown key, a value of the wrong shape, or any rule of
                ``Window``.
        """
        if not isinstance(data, Mapping):
            raise InvalidInputError("a window must be an object of named fields")
        unknown = sorted(set(data) - _FIELDS)
        if unknown:
            raise InvalidInputError(f"unknown window fields: {', '.join(map(str, unknown))}")
        name = data.get("name")
        if not isinstance(name, str):
            raise InvalidInputError("a window needs a name")
        exdates = data.get("exdates") or []
        if isinstance(exdates, str) or not isinstance(exdates, Sequence):
            raise InvalidInputError(f"window {name}: exdates must be a list of local times")
        return cls(
            name=name,
            kind=data.get("kind"),  # type: ignore[arg-type]  # checked by __post_init__
            tz=data.get("tz"),  # type: ignore[arg-type]
            start=_parse_local(data.get("start"), "start", name),  # type: ignore[arg-type]
            duration=_parse_duration(data.get("duration"), name),
            end=_parse_local(data.get("end"), "end", name),
            rrule=data.get("rrule"),
            exdates=tuple(_parse_local(value, "excluded start", name) for value in exdates),  # type: ignore[misc]
            scope=_parse_scope(data.get("scope") or {}, name),
        )

    def as_dict(self) -> dict[str, Any]:
        """The JSON-shaped data ``parse`` reads back into an equal window."""
        return {
            "name": self.name,
            "kind": self.kind,
            "tz": self.tz,
            "start": self.start.isoformat(),
            "duration": None if self.duration is None else format_duration(self.duration),
            "end": None if self.end is None else self.end.isoformat(),
            "rrule": self.rrule,
            "exdates": [exdate.isoformat() for exdate in self.exdates],
            "scope": {
                "environments": sorted(self.scope.environments),
                "labels": dict(self.scope.labels),
                "components": sorted(self.scope.components),
            },
        }


@dataclass(frozen=True)
class Verdict:
    """Whether a deployment may run at ``at``, why, and when that changes.

    Attributes:
        at: the moment asked about, in UTC.
        is_open: the deployment may run at ``at``.
        reason: one sentence saying why.
        blocked_by: the names of the applicable deny windows in force at ``at``.
        allowed_by: the names of the applicable allow windows open at ``at``.
        opens_at: ``at`` when open; otherwise the next instant it opens, or None when that
            is not within the horizon.
        closes_at: when the open period that begins at ``opens_at`` ends (for "the window
            closes mid-deployment"), or None when it lasts past the horizon or never opens.
    """

    at: datetime
    is_open: bool
    reason: str
    blocked_by: tuple[str, ...] = ()
    allowed_by: tuple[str, ...] = ()
    opens_at: datetime | None = None
    closes_at: datetime | None = None


def occurrences(window: Window, since: datetime, until: datetime) -> list[Interval]:
    """Every occurrence of ``window`` that overlaps ``[since, until)``, sorted, in UTC.

    Occurrences come whole (one that began before ``since`` keeps its start) and one by one:
    overlapping occurrences of one window are not merged (``merge`` does that). Two that
    begin at the same instant (a gap time and the real time after it) are one.

    Raises:
        InvalidInputError: ``since`` or ``until`` has no time zone, or ``until`` is before
            ``since``.
    """
    since, until = _range(since, until)
    if window.rrule is None:
        found = [window.first]
    else:
        rule = _recurrence(window.rrule, window.tz, window.start, window.exdates, window.name)
        # An occurrence that overlaps the range began less than one length before it.
        starts = (begins.astimezone(UTC) for begins in rule.between(since - window.length, until))
        found = [Interval(begins, begins + window.length) for begins in starts]
    return sorted({each for each in found if each.start < until and each.end > since})


def merge(intervals: Iterable[Interval]) -> list[Interval]:
    """The union of ``intervals`` as sorted, disjoint intervals; touching ones join."""
    union: list[Interval] = []
    for interval in sorted(intervals):
        if union and interval.start <= union[-1].end:
            if interval.end > union[-1].end:
                union[-1] = Interval(union[-1].start, interval.end)
        else:
            union.append(interval)
    return union


def applies(
    window: Window, environment: str, target_labels: Mapping[str, str], components: Collection[str]
) -> bool:
    """Whether ``window`` governs a deployment of ``components`` to ``environment`` on a target.

    Empty scope parts match everything; labels must all match the target's; components
    match when the deployment moves at least one of them.
    """
    return window.scope.matches(environment, target_labels, components)


def open_periods(
    windows: Iterable[Window],
    since: datetime,
    until: datetime,
    *,
    environment: str,
    target_labels: Mapping[str, str],
    components: Collection[str],
    requires_allow_window: bool,
) -> list[Interval]:
    """The periods within ``[since, until)`` when the deployment may run, sorted and disjoint.

    Open means: no applicable deny window is in force and, when ``requires_allow_window``,
    some applicable allow window is open. Without that requirement allow windows change
    nothing. The periods are clipped to the range.
    """
    since, until = _range(since, until)
    found = _applicable_occurrences(windows, since, until, environment, target_labels, components)
    return _open_periods(found, since, until, requires_allow_window)


def evaluate(
    windows: Iterable[Window],
    at: datetime,
    *,
    environment: str,
    target_labels: Mapping[str, str],
    components: Collection[str],
    requires_allow_window: bool,
    horizon: timedelta = HORIZON,
) -> Verdict:
    """Whether a deployment may run at ``at`` under ``windows``, why, and when that changes.

    Only windows that apply (``applies``) count. The search for the next opening and the
    next closing stops ``horizon`` after ``at``.

    Raises:
        InvalidInputError: ``at`` has no time zone or ``horizon`` is not positive.
    """
    at = _aware(at, "the moment to evaluate")
    if horizon <= timedelta(0):
        raise InvalidInputError("the horizon to search must be longer than zero")
    stop = at + horizon
    found = _applicable_occurrences(windows, at, stop, environment, target_labels, components)
    periods = _open_periods(found, at, stop, requires_allow_window)
    blocked_by = _in_force(found, "deny", at)
    allowed_by = _in_force(found, "allow", at)
    upcoming = periods[0] if periods else None
    is_open = upcoming is not None and upcoming.start == at
    if blocked_by:
        reason = f"{_listing('deny window', blocked_by)} in force"
    elif not requires_allow_window:
        reason = "no deny window is in force and no allow window is required"
    elif allowed_by:
        reason = f"{_listing('allow window', allowed_by)} open and no deny window is in force"
    elif any(window.kind == "allow" for window, _ in found):
        reason = "no allow window is open, and one is required"
    else:
        reason = "no allow window applies to this deployment, and one is required"
    return Verdict(
        at=at,
        is_open=is_open,
        reason=reason,
        blocked_by=blocked_by,
        allowed_by=allowed_by,
        opens_at=None if upcoming is None else upcoming.start,
        closes_at=None if upcoming is None or upcoming.end >= stop else upcoming.end,
    )


def next_opening(
    windows: Iterable[Window],
    at: datetime,
    *,
    environment: str,
    target_labels: Mapping[str, str],
    components: Collection[str],
    requires_allow_window: bool,
    horizon: timedelta = HORIZON,
) -> datetime | None:
    """``at`` if the deployment may run then, else the next instant it may.

    Returns None when it does not open within ``horizon`` of ``at``.
    """
    return evaluate(
        windows,
        at,
        environment=environment,
        target_labels=target_labels,
        components=components,
        requires_allow_window=requires_allow_window,
        horizon=horizon,
    ).opens_at


def open_until(
    windows: Iterable[Window],
    at: datetime,
    *,
    environment: str,
    target_labels: Mapping[str, str],
    components: Collection[str],
    requires_allow_window: bool,
    horizon: timedelta = HORIZON,
) -> datetime | None:
    """When the open period that contains ``at`` ends.

    Returns ``at`` itself when the deployment may not run at ``at``, and None when the
    period lasts past ``horizon``.
    """
    verdict = evaluate(
        windows,
        at,
        environment=environment,
        target_labels=target_labels,
        components=components,
        requires_allow_window=requires_allow_window,
        horizon=horizon,
    )
    return verdict.closes_at if verdict.is_open else verdict.at


def _applicable_occurrences(
    windows: Iterable[Window],
    since: datetime,
    until: datetime,
    environment: str,
    target_labels: Mapping[str, str],
    components: Collection[str],
) -> list[tuple[Window, list[Interval]]]:
    return [
        (window, occurrences(window, since, until))
        for window in windows
        if applies(window, environment, target_labels, components)
    ]


def _open_periods(
    found: Sequence[tuple[Window, list[Interval]]],
    since: datetime,
    until: datetime,
    requires_allow_window: bool,
) -> list[Interval]:
    if since == until:
        return []
    if requires_allow_window:
        allowed = merge(
            each for window, found_ in found if window.kind == "allow" for each in found_
        )
    else:
        allowed = [Interval(since, until)]
    denied = merge(each for window, found_ in found if window.kind == "deny" for each in found_)
    clipped = [
        Interval(max(each.start, since), min(each.end, until))
        for each in allowed
        if each.start < until and each.end > since
    ]
    return _subtract(clipped, denied)


def _subtract(periods: Sequence[Interval], holes: Sequence[Interval]) -> list[Interval]:
    """``periods`` minus ``holes``; both sorted and disjoint."""
    remaining: list[Interval] = []
    for period in periods:
        begins = period.start
        for hole in holes:
            if hole.end <= begins or hole.start >= period.end:
                continue
            if hole.start > begins:
                remaining.append(Interval(begins, hole.start))
            begins = hole.end
            if begins >= period.end:
                break
        if begins < period.end:
            remaining.append(Interval(begins, period.end))
    return remaining


def _in_force(
    found: Sequence[tuple[Window, list[Interval]]], kind: WindowKind, at: datetime
) -> tuple[str, ...]:
    return tuple(
        sorted(
            {
                window.name
                for window, found_ in found
                if window.kind == kind and any(at in each for each in found_)
            }
        )
    )


def _listing(noun: str, names: Sequence[str]) -> str:
    if len(names) == 1:
        return f"{noun} {names[0]} is"
    return f"{noun}s {', '.join(names)} are"


@dataclass(frozen=True)
class _Recurrence:
    """A checked rule with its zone, excluded starts and, if it has one, its skip-ahead step."""

    rule: recurrence.rrule
    start: datetime
    zone: ZoneInfo
    exdates: tuple[datetime, ...]
    step: timedelta | None

    def between(self, after: datetime, before: datetime) -> list[datetime]:
        """The starts in ``[after, before]`` (aware instants), as zoned wall-clock times."""
        rule = self.rule
        if self.step is not None:
            local_after = after.astimezone(self.zone).replace(tzinfo=None)
            # Whole steps keep the weekday, the time of day and the INTERVAL phase, so the
            # rule restarted there yields the same starts from there on (no COUNT to keep).
            steps = (local_after - self.start) // self.step - 1
            if steps > 0:
                restart = self.start + steps * self.step
                rule = rule.replace(dtstart=restart.replace(tzinfo=self.zone))
        rules = recurrence.rruleset()
        rules.rrule(rule)
        for exdate in self.exdates:
            rules.exdate(exdate.replace(tzinfo=self.zone))
        return rules.between(after, before, inc=True)


@functools.lru_cache(maxsize=512)
def _recurrence(
    text: str, tz: str, start: datetime, exdates: tuple[datetime, ...], name: str
) -> _Recurrence:
    """The rule ``text`` from ``start`` in ``tz`` minus ``exdates``, checked once.

    dateutil parses and expands the rule. The recurrence runs on wall-clock times carrying
    the zone, so it keeps the local time across DST, and comparisons with UTC instants use
    each time's first offset (fold=0), which is RFC 5545's reading of gap and repeated times.
    """
    value = text.strip()
    if value[:6].upper() == "RRULE:":
        value = value[6:]
    if not value or any(mark in value for mark in ":\r\n"):
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} must be one RRULE value, like "
            "FREQ=WEEKLY;BYDAY=SA; the window's start and time zone are its DTSTART"
        )
    # Only which parts are present, for clearer sentences; dateutil reads the rule itself.
    parts = {
        part.partition("=")[0].strip().upper(): part.partition("=")[2].strip()
        for part in value.split(";")
    }
    frequency = parts.get("FREQ", "").upper()
    if frequency in _SUB_DAILY:
        raise InvalidInputError(
            f"window {name}: a window recurs at most daily; for several starts a day use "
            f"BYHOUR, like FREQ=DAILY;BYHOUR=0,6,12,18 (got FREQ={frequency})"
        )
    if frequency and frequency not in _FREQUENCIES:
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} has FREQ={parts['FREQ']}; "
            f"use one of {', '.join(_FREQUENCIES)}"
        )
    if not frequency:
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} needs a FREQ, like FREQ=WEEKLY"
        )
    if "COUNT" in parts and "UNTIL" in parts:
        # RFC 5545 3.3.10: COUNT and UNTIL MUST NOT occur in the same rule.
        raise InvalidInputError(
            f"window {name}: a recurrence rule may end by COUNT or by UNTIL, not both"
        )
    if "UNTIL" in parts and not parts["UNTIL"].upper().endswith("Z"):
        # RFC 5545 3.3.10: with a DTSTART in a time zone, UNTIL is a UTC time.
        raise InvalidInputError(
            f"window {name}: UNTIL must be a UTC time ending in Z, like "
            f"UNTIL=20270101T000000Z; got UNTIL={parts['UNTIL']}"
        )
    zone = _zone(tz, name)
    first = start.replace(tzinfo=zone)
    try:
        rule = recurrence.rrulestr(value, dtstart=first)
    except (ValueError, TypeError, OverflowError) as exc:
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} is not a valid RFC 5545 RRULE: {exc}"
        ) from None
    if not isinstance(rule, recurrence.rrule):
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} must be one RRULE value"
        )
    # dateutil searches up to year 9999 for a date that a rule like BYMONTH=2;BYMONTHDAY=30
    # never matches: seconds of CPU from today. The same rule with INTERVAL=1, started on
    # the same weekday one calendar cycle before 9999, answers "does any date match?"
    # exactly in a fraction of that.
    probe = rule.replace(dtstart=_probe_start(first), interval=1, count=None, until=None)
    if next(iter(probe), None) is None:
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} matches no date at all"
        )
    rules = recurrence.rruleset()
    rules.rrule(rule)
    for exdate in exdates:
        rules.exdate(exdate.replace(tzinfo=zone))
    if next(iter(rules), None) is None:
        raise InvalidInputError(
            f"window {name}: the recurrence rule {text!r} has no occurrence from the start "
            f"{start.isoformat()} on; check UNTIL, COUNT, INTERVAL and the excluded starts"
        )
    # dateutil always iterates from DTSTART; without COUNT a daily or weekly rule may start
    # again later by whole periods of its INTERVAL, which keeps evaluation cheap for windows
    # that began years ago. (Monthly and yearly rules are cheap to iterate anyway.)
    step = None
    if "COUNT" not in parts and frequency in ("DAILY", "WEEKLY"):
        interval = int(parts.get("INTERVAL") or 1)
        step = timedelta(days=interval * (7 if frequency == "WEEKLY" else 1))
    return _Recurrence(rule=rule, start=start, zone=zone, exdates=exdates, step=step)


def _probe_start(first: datetime) -> datetime:
    """The latest day like ``first`` (date, weekday, time) at least one cycle before 9999."""
    for year in range(_LAST_PROBE_YEAR, _LAST_PROBE_YEAR - _CALENDAR_CYCLE_YEARS, -1):
        try:
            moved = first.replace(year=year)
        except ValueError:  # 29 February in a common year
            continue
        if moved.weekday() == first.weekday():
            return moved
    return first  # not reached: every date recurs on its weekday within 400 years


def _instant(local: datetime, zone: ZoneInfo) -> datetime:
    """The UTC instant of a local wall-clock time in ``zone``.

    RFC 5545 3.3.5: a time in a spring-forward gap takes the offset before the gap (it
    happens later by the gap); a repeated fall-back time is its first occurrence. Python's
    fold=0 means exactly that.
    """
    return local.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _zone(name: object, window: str) -> ZoneInfo:
    if not isinstance(name, str) or not name:
        raise InvalidInputError(
            f"window {window}: a window needs a time zone, an IANA name like Europe/London"
        )
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInputError(
            f"window {window}: unknown time zone {name!r}; use an IANA name like Europe/London"
        ) from None


def _check_local(moment: object, what: str, window: str) -> None:
    if not isinstance(moment, datetime):
        raise InvalidInputError(f"window {window}: the {what} must be a date and time")
    if moment.tzinfo is not None:
        raise InvalidInputError(
            f"window {window}: the {what} must be a local wall-clock time without a UTC "
            f"offset; the window's time zone places it (got {moment.isoformat()})"
        )
    if moment.microsecond:
        raise InvalidInputError(f"window {window}: the {what} must be in whole seconds")


def _aware(moment: object, what: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidInputError(f"{what} must be a date and time with a time zone")
    return moment.astimezone(UTC)


def _range(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    since, until = _aware(since, "the start of the range"), _aware(until, "the end of the range")
    if until < since:
        raise InvalidInputError(
            f"the range must not end ({until.isoformat()}) before it starts ({since.isoformat()})"
        )
    return since, until


def _parse_local(value: object, what: str, window: str) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return value
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            pass
    raise InvalidInputError(
        f"window {window}: the {what} must be an ISO 8601 local time like "
        f"2026-12-24T18:00:00; got {value!r}"
    )


def _parse_duration(value: object, window: str) -> timedelta | None:
    if value is None or isinstance(value, timedelta):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return timedelta(seconds=value)
    if isinstance(value, str):
        return parse_duration(value, option=f"window {window}: the duration")
    raise InvalidInputError(
        f"window {window}: the duration must be like 2h or 1h30m, or a number of seconds"
    )


def _parse_scope(value: object, window: str) -> WindowScope:
    if not isinstance(value, Mapping):
        raise InvalidInputError(
            f"window {window}: the scope must be an object with environments, labels and components"
        )
    unknown = sorted(set(value) - _SCOPE_FIELDS)
    if unknown:
        raise InvalidInputError(
            f"window {window}: unknown scope fields: {', '.join(map(str, unknown))}"
        )
    return WindowScope(
        environments=value.get("environments") or frozenset(),
        labels=value.get("labels") or {},
        components=value.get("components") or frozenset(),
    )
