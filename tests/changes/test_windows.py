"""Change windows (changes/windows.py): occurrences, DST, scopes and verdicts, as tables.

Every expected time is written in UTC. The 2026 daylight-saving changes used here:
Europe/London springs forward on Sunday 29 March at 01:00 GMT (01:00-01:59 local does not
exist) and falls back on Sunday 25 October at 02:00 BST (01:00-01:59 happens twice);
America/New_York springs forward on Sunday 8 March at 02:00 EST (02:00-02:59 does not
exist) and falls back on Sunday 1 November at 02:00 EDT (01:00-01:59 happens twice).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from dateutil.rrule import rrulestr

from golive.changes.windows import (
    HORIZON,
    Interval,
    Window,
    WindowScope,
    applies,
    evaluate,
    merge,
    next_opening,
    occurrences,
    open_periods,
    open_until,
)
from golive.errors import InvalidInputError


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(
    start: str,
    duration: str | None = "4h",
    *,
    name: str = "w",
    kind: str = "allow",
    tz: str = "Europe/London",
    rrule: str | None = None,
    end: str | None = None,
    exdates: Sequence[str] = (),
    scope: dict[str, Any] | None = None,
) -> Window:
    return Window.parse(
        {
            "name": name,
            "kind": kind,
            "tz": tz,
            "start": start,
            "duration": None if end else duration,
            "end": end,
            "rrule": rrule,
            "exdates": list(exdates),
            "scope": scope,
        }
    )


def show(interval: Interval) -> str:
    start, end = interval.start.astimezone(UTC), interval.end.astimezone(UTC)
    tail = f"{end:%H:%M}" if end.date() == start.date() else f"{end:%Y-%m-%d %H:%M}"
    return f"{start:%Y-%m-%d %H:%M} to {tail}"


SATURDAYS = "FREQ=WEEKLY;BYDAY=SA"
SUNDAYS = "FREQ=WEEKLY;BYDAY=SU"
# Saturday nights 22:00-02:00 London time, from Saturday 3 January 2026.
SAT_NIGHTS = window("2026-01-03T22:00", "4h", name="sat-nights", rrule=SATURDAYS)
CHRISTMAS_FREEZE = window(
    "2026-12-18T00:00", kind="deny", name="christmas-freeze", end="2027-01-04T00:00"
)


@pytest.mark.parametrize(
    ("subject", "since", "until", "expected"),
    [
        pytest.param(
            window("2026-06-01T10:00", "2h", tz="UTC"),
            "2026-06-01 00:00",
            "2026-06-02 00:00",
            ["2026-06-01 10:00 to 12:00"],
            id="one-off-utc",
        ),
        pytest.param(
            window("2026-06-01T10:00", "2h"),
            "2026-06-01 00:00",
            "2026-06-02 00:00",
            ["2026-06-01 09:00 to 11:00"],
            id="one-off-london-summer-time",
        ),
        pytest.param(
            window("2026-06-01T22:00", end="2026-06-02T02:00"),
            "2026-06-01 00:00",
            "2026-06-03 00:00",
            ["2026-06-01 21:00 to 2026-06-02 01:00"],
            id="one-off-with-end",
        ),
        pytest.param(
            window("2026-06-01T10:00", "2h"),
            "2026-06-01 10:00",
            "2026-06-02 00:00",
            ["2026-06-01 09:00 to 11:00"],
            id="one-off-begun-before-range-kept-whole",
        ),
        pytest.param(
            window("2026-06-01T10:00", "2h"),
            "2026-06-01 11:00",
            "2026-06-02 00:00",
            [],
            id="one-off-ending-at-range-start-excluded",
        ),
        pytest.param(
            window("2026-06-01T10:00", "2h"),
            "2026-06-01 00:00",
            "2026-06-01 09:00",
            [],
            id="one-off-starting-at-range-end-excluded",
        ),
        pytest.param(
            SAT_NIGHTS,
            "2026-01-01 00:00",
            "2026-01-20 00:00",
            [
                "2026-01-03 22:00 to 2026-01-04 02:00",
                "2026-01-10 22:00 to 2026-01-11 02:00",
                "2026-01-17 22:00 to 2026-01-18 02:00",
            ],
            id="weekly-saturday-nights",
        ),
        pytest.param(
            SAT_NIGHTS,
            "2026-01-04 01:00",
            "2026-01-05 00:00",
            ["2026-01-03 22:00 to 2026-01-04 02:00"],
            id="weekly-occurrence-begun-before-range",
        ),
        pytest.param(
            window(
                "2026-12-05T22:00",
                rrule="FREQ=WEEKLY;BYDAY=SA;BYHOUR=22;UNTIL=20270101T000000Z",
            ),
            "2026-12-20 03:00",
            "2027-01-20 00:00",
            ["2026-12-26 22:00 to 2026-12-27 02:00"],  # 2 January is after UNTIL
            id="weekly-with-until-stops",
        ),
        pytest.param(
            window("2026-01-05T22:00", rrule=SATURDAYS),
            "2026-01-01 00:00",
            "2026-01-12 00:00",
            ["2026-01-10 22:00 to 2026-01-11 02:00"],
            id="start-off-the-rule-is-only-an-anchor",
        ),
        pytest.param(
            window("2026-01-30T20:00", "2h", tz="UTC", rrule="FREQ=MONTHLY;BYDAY=-1FR"),
            "2026-01-01 00:00",
            "2026-04-01 00:00",
            ["2026-01-30 20:00 to 22:00", "2026-02-27 20:00 to 22:00", "2026-03-27 20:00 to 22:00"],
            id="monthly-last-friday",
        ),
        pytest.param(
            window("2026-03-27T09:00", "1h", rrule="FREQ=DAILY"),
            "2026-03-28 00:00",
            "2026-03-31 00:00",
            ["2026-03-28 09:00 to 10:00", "2026-03-29 08:00 to 09:00", "2026-03-30 08:00 to 09:00"],
            id="london-spring-forward-keeps-wall-time",
        ),
        pytest.param(
            window("2026-03-01T01:30", "2h", rrule=SUNDAYS),
            "2026-03-21 00:00",
            "2026-04-06 00:00",
            [
                "2026-03-22 01:30 to 03:30",
                "2026-03-29 01:30 to 03:30",  # 01:30 does not exist: 02:30 BST
                "2026-04-05 00:30 to 02:30",
            ],
            id="london-nonexistent-0130-moves-later-by-the-gap",
        ),
        pytest.param(
            window("2026-10-04T01:30", "2h", rrule=SUNDAYS),
            "2026-10-17 00:00",
            "2026-11-02 00:00",
            [
                "2026-10-18 00:30 to 02:30",
                "2026-10-25 00:30 to 02:30",  # 01:30 twice: the first, still BST
                "2026-11-01 01:30 to 03:30",
            ],
            id="london-ambiguous-0130-is-the-first",
        ),
        pytest.param(
            window("2026-03-01T02:30", "1h", tz="America/New_York", rrule=SUNDAYS),
            "2026-03-01 00:00",
            "2026-03-16 00:00",
            [
                "2026-03-01 07:30 to 08:30",
                "2026-03-08 07:30 to 08:30",  # 02:30 does not exist: 03:30 EDT
                "2026-03-15 06:30 to 07:30",
            ],
            id="new-york-nonexistent-0230-moves-later-by-the-gap",
        ),
        pytest.param(
            window("2026-03-01T01:30", "1h", tz="America/New_York", rrule=SUNDAYS),
            "2026-03-01 00:00",
            "2026-03-16 00:00",
            [
                "2026-03-01 06:30 to 07:30",
                "2026-03-08 06:30 to 07:30",  # 01:30 exists, still EST
                "2026-03-15 05:30 to 06:30",
            ],
            id="new-york-0130-exists-on-spring-forward-day",
        ),
        pytest.param(
            window("2026-10-18T01:30", "1h", tz="America/New_York", rrule=SUNDAYS),
            "2026-10-25 00:00",
            "2026-11-09 00:00",
            [
                "2026-10-25 05:30 to 06:30",
                "2026-11-01 05:30 to 06:30",  # 01:30 twice: the first, still EDT
                "2026-11-08 06:30 to 07:30",
            ],
            id="new-york-ambiguous-0130-is-the-first",
        ),
        pytest.param(
            window("2026-03-01T09:00", "1h", tz="America/New_York", rrule="FREQ=DAILY"),
            "2026-03-07 00:00",
            "2026-03-10 00:00",
            ["2026-03-07 14:00 to 15:00", "2026-03-08 13:00 to 14:00", "2026-03-09 13:00 to 14:00"],
            id="new-york-spring-forward-keeps-wall-time",
        ),
        pytest.param(
            window(
                "2026-03-07T01:00",
                "30m",
                tz="America/New_York",
                rrule="FREQ=DAILY;BYHOUR=1,2,3",
            ),
            "2026-03-08 00:00",
            "2026-03-08 12:00",
            ["2026-03-08 06:00 to 06:30", "2026-03-08 07:00 to 07:30"],
            id="nonexistent-0200-and-real-0300-are-one-occurrence",
        ),
        pytest.param(
            window("2026-03-28T22:00", "8h"),
            "2026-03-28 00:00",
            "2026-03-30 00:00",
            ["2026-03-28 22:00 to 2026-03-29 06:00"],  # 07:00 BST: 8 elapsed hours
            id="duration-is-elapsed-time-across-the-gap",
        ),
        pytest.param(
            window("2026-03-21T22:00", end="2026-03-22T06:00", rrule=SATURDAYS),
            "2026-03-21 00:00",
            "2026-03-29 12:00",
            ["2026-03-21 22:00 to 2026-03-22 06:00", "2026-03-28 22:00 to 2026-03-29 06:00"],
            id="end-sets-the-elapsed-length-of-every-occurrence",
        ),
        pytest.param(
            window("2026-03-29T00:30", end="2026-03-29T01:30"),
            "2026-03-29 00:00",
            "2026-03-30 00:00",
            ["2026-03-29 00:30 to 01:30"],
            id="one-off-end-in-the-gap-moves-later",
        ),
        pytest.param(
            window("2026-01-03T22:00", rrule=f"{SATURDAYS};UNTIL=20260117T220000Z"),
            "2026-01-01 00:00",
            "2026-03-01 00:00",
            [
                "2026-01-03 22:00 to 2026-01-04 02:00",
                "2026-01-10 22:00 to 2026-01-11 02:00",
                "2026-01-17 22:00 to 2026-01-18 02:00",
            ],
            id="until-inclusive-occurrence-at-until-counts",
        ),
        pytest.param(
            window("2026-01-03T22:00", rrule=f"{SATURDAYS};UNTIL=20260117T215959Z"),
            "2026-01-01 00:00",
            "2026-03-01 00:00",
            ["2026-01-03 22:00 to 2026-01-04 02:00", "2026-01-10 22:00 to 2026-01-11 02:00"],
            id="until-occurrence-one-second-later-excluded",
        ),
        pytest.param(
            window("2026-06-06T22:00", "1h", rrule=f"{SATURDAYS};UNTIL=20260620T210000Z"),
            "2026-06-01 00:00",
            "2026-08-01 00:00",
            ["2026-06-06 21:00 to 22:00", "2026-06-13 21:00 to 22:00", "2026-06-20 21:00 to 22:00"],
            id="until-is-utc-against-a-summer-time-start",
        ),
        pytest.param(
            window("2026-01-03T22:00", "1h", rrule=f"{SATURDAYS};COUNT=3"),
            "2026-01-01 00:00",
            "2026-12-31 00:00",
            ["2026-01-03 22:00 to 23:00", "2026-01-10 22:00 to 23:00", "2026-01-17 22:00 to 23:00"],
            id="count",
        ),
        pytest.param(
            window("2026-01-03T22:00", "1h", rrule=f"{SATURDAYS};COUNT=2"),
            "2026-02-01 00:00",
            "2026-12-31 00:00",
            [],
            id="count-used-up-before-range",
        ),
        pytest.param(
            window("2026-01-03T22:00", "1h", rrule=SATURDAYS, exdates=["2026-01-10T22:00"]),
            "2026-01-01 00:00",
            "2026-01-20 00:00",
            ["2026-01-03 22:00 to 23:00", "2026-01-17 22:00 to 23:00"],
            id="excluded-start",
        ),
        pytest.param(
            window("2026-01-03T22:00", "26h", rrule="FREQ=DAILY"),
            "2026-01-04 23:00",
            "2026-01-04 23:30",
            ["2026-01-03 22:00 to 2026-01-05 00:00", "2026-01-04 22:00 to 2026-01-06 00:00"],
            id="overlapping-occurrences-listed-one-by-one",
        ),
    ],
)
def test_occurrences(subject: Window, since: str, until: str, expected: list[str]) -> None:
    assert [show(each) for each in occurrences(subject, utc(since), utc(until))] == expected


@pytest.mark.parametrize(
    ("at", "is_open", "opens_at", "closes_at"),
    [
        pytest.param(
            "2026-01-10 21:59:59", False, "2026-01-10 22:00", "2026-01-11 02:00", id="before-start"
        ),
        pytest.param(
            "2026-01-10 22:00", True, "2026-01-10 22:00", "2026-01-11 02:00", id="at-start-open"
        ),
        pytest.param(
            "2026-01-11 01:59:59", True, "2026-01-11 01:59:59", "2026-01-11 02:00", id="last-second"
        ),
        pytest.param(
            "2026-01-11 02:00", False, "2026-01-17 22:00", "2026-01-18 02:00", id="at-end-closed"
        ),
    ],
)
def test_a_window_is_open_at_its_start_and_closed_at_its_end(
    at: str, is_open: bool, opens_at: str, closes_at: str
) -> None:
    verdict = evaluate(
        [SAT_NIGHTS],
        utc(at),
        environment="production",
        target_labels={},
        components=["payroll"],
        requires_allow_window=True,
    )
    assert (verdict.is_open, verdict.opens_at, verdict.closes_at) == (
        is_open,
        utc(opens_at),
        utc(closes_at),
    )


ALLOW_A = window("2026-01-10T22:00", "4h", name="a")  # 22:00-02:00
ALLOW_B = window("2026-01-11T01:00", "3h", name="b")  # 01:00-04:00, overlaps a
ALLOW_C = window("2026-01-11T02:00", "2h", name="c")  # 02:00-04:00, touches a
BACKUP = window("2026-01-11T00:00", "30m", kind="deny", name="db-backup")
AUDIT = window("2026-01-11T00:15", "30m", kind="deny", name="audit")
PROD_FREEZE = window(
    "2026-12-18T00:00",
    kind="deny",
    name="prod-freeze",
    end="2027-01-04T00:00",
    scope={"environments": ["production"]},
)
PROD_ALLOW = window(
    "2026-01-10T22:00", "4h", name="prod-only", scope={"environments": ["production"]}
)


@pytest.mark.parametrize(
    ("windows", "at", "requires", "horizon", "expected"),
    [
        pytest.param(
            [],
            "2026-01-07 12:00",
            False,
            HORIZON,
            (
                True,
                (),
                "2026-01-07 12:00",
                None,
                "no deny window is in force and no allow window is required",
            ),
            id="no-windows-no-requirement-always-open",
        ),
        pytest.param(
            [],
            "2026-01-07 12:00",
            True,
            HORIZON,
            (
                False,
                (),
                None,
                None,
                "no allow window applies to this deployment, and one is required",
            ),
            id="no-windows-allow-required-never-opens",
        ),
        pytest.param(
            [SAT_NIGHTS],
            "2026-01-10 23:00",
            True,
            HORIZON,
            (
                True,
                (),
                "2026-01-10 23:00",
                "2026-01-11 02:00",
                "allow window sat-nights is open and no deny window is in force",
            ),
            id="allow-open-closes-at-its-end",
        ),
        pytest.param(
            [SAT_NIGHTS],
            "2026-01-07 12:00",
            True,
            HORIZON,
            (
                False,
                (),
                "2026-01-10 22:00",
                "2026-01-11 02:00",
                "no allow window is open, and one is required",
            ),
            id="allow-later-next-opening",
        ),
        pytest.param(
            [ALLOW_A, ALLOW_B],
            "2026-01-10 23:00",
            True,
            HORIZON,
            (
                True,
                (),
                "2026-01-10 23:00",
                "2026-01-11 04:00",
                "allow window a is open and no deny window is in force",
            ),
            id="overlapping-allow-windows-union",
        ),
        pytest.param(
            [ALLOW_A, ALLOW_B],
            "2026-01-11 01:30",
            True,
            HORIZON,
            (
                True,
                (),
                "2026-01-11 01:30",
                "2026-01-11 04:00",
                "allow windows a, b are open and no deny window is in force",
            ),
            id="overlapping-allow-windows-both-named",
        ),
        pytest.param(
            [ALLOW_C, ALLOW_A],
            "2026-01-10 23:00",
            True,
            HORIZON,
            (
                True,
                (),
                "2026-01-10 23:00",
                "2026-01-11 04:00",
                "allow window a is open and no deny window is in force",
            ),
            id="touching-allow-windows-join",
        ),
        pytest.param(
            [SAT_NIGHTS, BACKUP],
            "2026-01-10 23:00",
            True,
            HORIZON,
            (
                True,
                (),
                "2026-01-10 23:00",
                "2026-01-11 00:00",
                "allow window sat-nights is open and no deny window is in force",
            ),
            id="deny-inside-allow-closes-it-early",
        ),
        pytest.param(
            [SAT_NIGHTS, BACKUP],
            "2026-01-11 00:10",
            True,
            HORIZON,
            (
                False,
                ("db-backup",),
                "2026-01-11 00:30",
                "2026-01-11 02:00",
                "deny window db-backup is in force",
            ),
            id="deny-inside-allow-reopens-after",
        ),
        pytest.param(
            [SAT_NIGHTS, BACKUP],
            "2026-01-11 00:30",
            True,
            HORIZON,
            (
                True,
                (),
                "2026-01-11 00:30",
                "2026-01-11 02:00",
                "allow window sat-nights is open and no deny window is in force",
            ),
            id="deny-over-at-its-end",
        ),
        pytest.param(
            [SAT_NIGHTS, BACKUP, AUDIT],
            "2026-01-11 00:20",
            True,
            HORIZON,
            (
                False,
                ("audit", "db-backup"),
                "2026-01-11 00:45",
                "2026-01-11 02:00",
                "deny windows audit, db-backup are in force",
            ),
            id="two-deny-windows-named-and-joined",
        ),
        pytest.param(
            [SAT_NIGHTS, CHRISTMAS_FREEZE],
            "2026-12-19 23:00",
            True,
            HORIZON,
            (
                False,
                ("christmas-freeze",),
                "2027-01-09 22:00",
                "2027-01-10 02:00",
                "deny window christmas-freeze is in force",
            ),
            id="next-opening-across-a-freeze",
        ),
        pytest.param(
            [SAT_NIGHTS, CHRISTMAS_FREEZE],
            "2026-12-14 12:00",
            True,
            HORIZON,
            (
                False,
                (),
                "2027-01-09 22:00",
                "2027-01-10 02:00",
                "no allow window is open, and one is required",
            ),
            id="freeze-ahead-skips-the-saturdays-it-covers",
        ),
        pytest.param(
            [CHRISTMAS_FREEZE],
            "2026-12-10 00:00",
            False,
            HORIZON,
            (
                True,
                (),
                "2026-12-10 00:00",
                "2026-12-18 00:00",
                "no deny window is in force and no allow window is required",
            ),
            id="no-requirement-open-until-the-freeze",
        ),
        pytest.param(
            [CHRISTMAS_FREEZE],
            "2026-12-20 00:00",
            False,
            HORIZON,
            (
                False,
                ("christmas-freeze",),
                "2027-01-04 00:00",
                None,
                "deny window christmas-freeze is in force",
            ),
            id="no-requirement-reopens-after-the-freeze",
        ),
        pytest.param(
            [window("2025-01-04T22:00", name="past")],
            "2026-01-07 12:00",
            True,
            HORIZON,
            (False, (), None, None, "no allow window is open, and one is required"),
            id="only-past-allow-windows-never-opens",
        ),
        pytest.param(
            [SAT_NIGHTS],
            "2026-01-07 12:00",
            True,
            timedelta(days=1),
            (False, (), None, None, "no allow window is open, and one is required"),
            id="horizon-bounds-the-search-for-an-opening",
        ),
        pytest.param(
            [window("2026-01-01T00:00", "30d", name="month")],
            "2026-01-07 12:00",
            True,
            timedelta(days=1),
            (
                True,
                (),
                "2026-01-07 12:00",
                None,
                "allow window month is open and no deny window is in force",
            ),
            id="open-past-the-horizon-has-no-closing",
        ),
        pytest.param(
            [window("2026-01-01T00:00", "1000d", kind="deny", name="forever")],
            "2026-01-07 12:00",
            False,
            HORIZON,
            (False, ("forever",), None, None, "deny window forever is in force"),
            id="deny-past-the-horizon-has-no-opening",
        ),
        pytest.param(
            [PROD_FREEZE],
            "2026-12-20 00:00",
            False,
            HORIZON,
            (
                True,
                (),
                "2026-12-20 00:00",
                None,
                "no deny window is in force and no allow window is required",
            ),
            id="deny-scoped-to-another-environment-ignored",
        ),
        pytest.param(
            [PROD_ALLOW],
            "2026-01-10 23:00",
            True,
            HORIZON,
            (
                False,
                (),
                None,
                None,
                "no allow window applies to this deployment, and one is required",
            ),
            id="allow-scoped-to-another-environment-ignored",
        ),
        pytest.param(
            [SAT_NIGHTS],
            "2026-01-10 23:00",
            False,
            HORIZON,
            (
                True,
                (),
                "2026-01-10 23:00",
                None,
                "no deny window is in force and no allow window is required",
            ),
            id="allow-windows-change-nothing-unless-required",
        ),
    ],
)
def test_evaluate(
    windows: list[Window],
    at: str,
    requires: bool,
    horizon: timedelta,
    expected: tuple[bool, tuple[str, ...], str | None, str | None, str],
) -> None:
    is_open, blocked_by, opens_at, closes_at, reason = expected
    verdict = evaluate(
        windows,
        utc(at),
        environment="staging",
        target_labels={"role": "db"},
        components=["payroll"],
        requires_allow_window=requires,
        horizon=horizon,
    )
    assert verdict.at == utc(at)
    assert verdict.is_open is is_open
    assert verdict.blocked_by == blocked_by
    assert verdict.opens_at == (opens_at and utc(opens_at))
    assert verdict.closes_at == (closes_at and utc(closes_at))
    assert verdict.reason == reason


@pytest.mark.parametrize(
    ("scope", "environment", "labels", "components", "expected"),
    [
        pytest.param({}, "production", {}, ["payroll"], True, id="empty-scope-applies-to-all"),
        pytest.param(
            {"environments": ["production", "staging"]},
            "staging",
            {},
            ["payroll"],
            True,
            id="environment-listed",
        ),
        pytest.param(
            {"environments": ["production"]},
            "staging",
            {},
            ["payroll"],
            False,
            id="environment-not-listed",
        ),
        pytest.param(
            {"labels": {"role": "db", "site": "lon"}},
            "production",
            {"role": "db", "site": "lon", "tier": "gold"},
            ["payroll"],
            True,
            id="labels-all-match-extra-target-labels-fine",
        ),
        pytest.param(
            {"labels": {"role": "db", "site": "lon"}},
            "production",
            {"role": "db", "site": "nyc"},
            ["payroll"],
            False,
            id="label-value-differs",
        ),
        pytest.param(
            {"labels": {"role": "db"}},
            "production",
            {"site": "lon"},
            ["payroll"],
            False,
            id="label-missing-on-target",
        ),
        pytest.param(
            {"components": ["payroll", "ledger"]},
            "production",
            {},
            ["ledger", "portal"],
            True,
            id="one-component-in-scope-is-enough",
        ),
        pytest.param(
            {"components": ["payroll"]},
            "production",
            {},
            ["portal"],
            False,
            id="no-component-in-scope",
        ),
        pytest.param(
            {"components": ["payroll"]},
            "production",
            {},
            [],
            False,
            id="component-scope-and-no-components",
        ),
        pytest.param(
            {"environments": ["production"], "labels": {"role": "db"}, "components": ["payroll"]},
            "production",
            {"role": "db"},
            ["payroll"],
            True,
            id="every-part-matches",
        ),
        pytest.param(
            {"environments": ["production"], "labels": {"role": "db"}, "components": ["payroll"]},
            "production",
            {"role": "web"},
            ["payroll"],
            False,
            id="one-part-fails",
        ),
    ],
)
def test_applies(
    scope: dict[str, Any],
    environment: str,
    labels: dict[str, str],
    components: list[str],
    expected: bool,
) -> None:
    subject = window("2026-01-03T22:00", scope=scope)
    assert applies(subject, environment, labels, components) is expected


BASE = {"name": "w", "kind": "allow", "tz": "Europe/London", "start": "2026-01-03T22:00:00"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=WEEKLY;BYDAY=XX"},
            "window w: the recurrence rule 'FREQ=WEEKLY;BYDAY=XX' is not a valid RFC 5545 "
            "RRULE: invalid 'BYDAY': XX",
            id="bad-rrule-part",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "every saturday"},
            "window w: the recurrence rule 'every saturday' needs a FREQ, like FREQ=WEEKLY",
            id="not-an-rrule",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=FORTNIGHTLY"},
            "window w: the recurrence rule 'FREQ=FORTNIGHTLY' has FREQ=FORTNIGHTLY; use one of "
            "DAILY, WEEKLY, MONTHLY, YEARLY",
            id="unknown-freq",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=HOURLY;INTERVAL=6"},
            "window w: a window recurs at most daily; for several starts a day use BYHOUR, like "
            "FREQ=DAILY;BYHOUR=0,6,12,18 (got FREQ=HOURLY)",
            id="sub-daily-freq",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=WEEKLY;COUNT=3;UNTIL=20270101T000000Z"},
            "window w: a recurrence rule may end by COUNT or by UNTIL, not both",
            id="count-and-until",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=WEEKLY;UNTIL=20270101T000000"},
            "window w: UNTIL must be a UTC time ending in Z, like UNTIL=20270101T000000Z; "
            "got UNTIL=20270101T000000",
            id="until-not-utc",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "DTSTART:20200101T000000\nRRULE:FREQ=WEEKLY"},
            "window w: the recurrence rule 'DTSTART:20200101T000000\\nRRULE:FREQ=WEEKLY' must "
            "be one RRULE value, like FREQ=WEEKLY;BYDAY=SA; the window's start and time zone "
            "are its DTSTART",
            id="rrule-with-its-own-dtstart",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30"},
            "window w: the recurrence rule 'FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30' matches no "
            "date at all",
            id="rrule-matching-no-date",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=WEEKLY;UNTIL=20250101T000000Z"},
            "window w: the recurrence rule 'FREQ=WEEKLY;UNTIL=20250101T000000Z' has no "
            "occurrence from the start 2026-01-03T22:00:00 on; check UNTIL, COUNT, INTERVAL and "
            "the excluded starts",
            id="until-before-start",
        ),
        pytest.param(
            {"duration": "1h", "rrule": "FREQ=WEEKLY;COUNT=0"},
            "window w: the recurrence rule 'FREQ=WEEKLY;COUNT=0' has no occurrence from the "
            "start 2026-01-03T22:00:00 on; check UNTIL, COUNT, INTERVAL and the excluded starts",
            id="count-zero",
        ),
        pytest.param(
            {"tz": "Mars/Olympus_Mons", "duration": "1h"},
            "window w: unknown time zone 'Mars/Olympus_Mons'; use an IANA name like Europe/London",
            id="unknown-time-zone",
        ),
        pytest.param(
            {"tz": "../../etc/passwd", "duration": "1h"},
            "window w: unknown time zone '../../etc/passwd'; use an IANA name like Europe/London",
            id="time-zone-path",
        ),
        pytest.param(
            {"tz": None, "duration": "1h"},
            "window w: a window needs a time zone, an IANA name like Europe/London",
            id="no-time-zone",
        ),
        pytest.param(
            {"end": "2026-01-03T21:00:00"},
            "window w: the end (2026-01-03T21:00:00) is before the start (2026-01-03T22:00:00)",
            id="end-before-start",
        ),
        pytest.param(
            {"end": "2026-01-03T22:00:00"},
            "window w: a window must last longer than zero; got 0 seconds",
            id="end-at-start",
        ),
        pytest.param(
            {"duration": "0s"},
            "window w: a window must last longer than zero; got 0 seconds",
            id="zero-duration",
        ),
        pytest.param(
            {"duration": -60},
            "window w: a window must last longer than zero; got -60 seconds",
            id="negative-duration",
        ),
        pytest.param(
            {"duration": "two hours"},
            "window w: the duration must be a duration like 30s, 2m, 1h30m or 1d; got 'two hours'",
            id="unreadable-duration",
        ),
        pytest.param(
            {"duration": "1h", "end": "2026-01-03T23:00:00"},
            "window w: give either a duration or an end; both was given",
            id="duration-and-end",
        ),
        pytest.param(
            {}, "window w: give either a duration or an end; neither was given", id="no-length"
        ),
        pytest.param(
            {"kind": "maybe", "duration": "1h"},
            "window w: kind must be allow or deny; got 'maybe'",
            id="unknown-kind",
        ),
        pytest.param({"name": " ", "duration": "1h"}, "a window needs a name", id="blank-name"),
        pytest.param(
            {"start": "2026-01-03T22:00:00+00:00", "duration": "1h"},
            "window w: the start must be a local wall-clock time without a UTC offset; the "
            "window's time zone places it (got 2026-01-03T22:00:00+00:00)",
            id="start-with-offset",
        ),
        pytest.param(
            {"start": "next saturday", "duration": "1h"},
            "window w: the start must be an ISO 8601 local time like 2026-12-24T18:00:00; "
            "got 'next saturday'",
            id="start-not-iso",
        ),
        pytest.param(
            {"start": "2026-01-03T22:00:00.5", "duration": "1h"},
            "window w: the start must be in whole seconds",
            id="start-with-fraction",
        ),
        pytest.param(
            {"duration": "1h", "exdates": ["2026-01-10T22:00:00"]},
            "window w: excluded starts need a recurrence rule",
            id="exdates-without-rrule",
        ),
        pytest.param(
            {"duration": "1h", "timezone": "UTC"},
            "unknown window fields: timezone",
            id="unknown-field",
        ),
        pytest.param(
            {"duration": "1h", "scope": {"environments": "production"}},
            "a window's environments must be a list of names",
            id="environments-not-a-list",
        ),
        pytest.param(
            {"duration": "1h", "scope": {"targets": ["web-1"]}},
            "window w: unknown scope fields: targets",
            id="unknown-scope-field",
        ),
    ],
)
def test_bad_windows_are_refused_with_a_sentence(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        Window.parse({**BASE, **fields})
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("call", "message"),
    [
        pytest.param(
            lambda: occurrences(SAT_NIGHTS, datetime(2026, 1, 1), utc("2026-02-01 00:00")),
            "the start of the range must be a date and time with a time zone",
            id="naive-since",
        ),
        pytest.param(
            lambda: occurrences(SAT_NIGHTS, utc("2026-02-01 00:00"), utc("2026-01-01 00:00")),
            "the range must not end (2026-01-01T00:00:00+00:00) before it starts "
            "(2026-02-01T00:00:00+00:00)",
            id="range-backwards",
        ),
        pytest.param(
            lambda: evaluate(
                [SAT_NIGHTS],
                datetime(2026, 1, 1),
                environment="production",
                target_labels={},
                components=[],
                requires_allow_window=True,
            ),
            "the moment to evaluate must be a date and time with a time zone",
            id="naive-moment",
        ),
        pytest.param(
            lambda: evaluate(
                [SAT_NIGHTS],
                utc("2026-01-01 00:00"),
                environment="production",
                target_labels={},
                components=[],
                requires_allow_window=True,
                horizon=timedelta(0),
            ),
            "the horizon to search must be longer than zero",
            id="zero-horizon",
        ),
    ],
)
def test_bad_questions_are_refused_with_a_sentence(call: Any, message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        call()
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("intervals", "expected"),
    [
        pytest.param([], [], id="nothing"),
        pytest.param(
            [("2026-01-01 02:00", "2026-01-01 03:00"), ("2026-01-01 00:00", "2026-01-01 01:00")],
            ["2026-01-01 00:00 to 01:00", "2026-01-01 02:00 to 03:00"],
            id="apart-sorted",
        ),
        pytest.param(
            [("2026-01-01 00:00", "2026-01-01 02:00"), ("2026-01-01 01:00", "2026-01-01 03:00")],
            ["2026-01-01 00:00 to 03:00"],
            id="overlapping",
        ),
        pytest.param(
            [("2026-01-01 00:00", "2026-01-01 01:00"), ("2026-01-01 01:00", "2026-01-01 02:00")],
            ["2026-01-01 00:00 to 02:00"],
            id="touching",
        ),
        pytest.param(
            [("2026-01-01 00:00", "2026-01-01 05:00"), ("2026-01-01 01:00", "2026-01-01 02:00")],
            ["2026-01-01 00:00 to 05:00"],
            id="contained",
        ),
    ],
)
def test_merge(intervals: list[tuple[str, str]], expected: list[str]) -> None:
    merged = merge(Interval(utc(start), utc(end)) for start, end in intervals)
    assert [show(each) for each in merged] == expected


def test_open_periods_split_allow_windows_around_deny_windows_and_clip_to_the_range() -> None:
    periods = open_periods(
        [SAT_NIGHTS, BACKUP, ALLOW_B],
        utc("2026-01-10 23:00"),
        utc("2026-01-11 03:00"),
        environment="production",
        target_labels={},
        components=["payroll"],
        requires_allow_window=True,
    )
    assert [show(each) for each in periods] == [
        "2026-01-10 23:00 to 2026-01-11 00:00",
        "2026-01-11 00:30 to 03:00",
    ]


@pytest.mark.parametrize(
    ("at", "opening", "until"),
    [
        pytest.param("2026-01-10 23:00", "2026-01-10 23:00", "2026-01-11 02:00", id="open"),
        pytest.param("2026-01-07 12:00", "2026-01-10 22:00", "2026-01-07 12:00", id="closed"),
    ],
)
def test_next_opening_and_open_until(at: str, opening: str, until: str) -> None:
    question: dict[str, Any] = {
        "environment": "production",
        "target_labels": {},
        "components": ["payroll"],
        "requires_allow_window": True,
    }
    assert next_opening([SAT_NIGHTS], utc(at), **question) == utc(opening)
    assert open_until([SAT_NIGHTS], utc(at), **question) == utc(until)


def test_never_is_none() -> None:
    question: dict[str, Any] = {
        "environment": "production",
        "target_labels": {},
        "components": [],
        "requires_allow_window": True,
    }
    assert next_opening([], utc("2026-01-01 00:00"), **question) is None
    question["requires_allow_window"] = False
    assert open_until([], utc("2026-01-01 00:00"), **question) is None


def test_a_window_reads_back_what_it_writes() -> None:
    original = window(
        "2026-01-03T22:00",
        "1h30m",
        name="sat-nights",
        kind="deny",
        tz="America/New_York",
        rrule=f"{SATURDAYS};UNTIL=20270101T000000Z",
        exdates=["2026-01-10T22:00"],
        scope={"environments": ["production"], "labels": {"role": "db"}, "components": ["ledger"]},
    )
    data = original.as_dict()
    assert data["duration"] == "1h30m"
    assert data["scope"] == {
        "environments": ["production"],
        "labels": {"role": "db"},
        "components": ["ledger"],
    }
    assert Window.parse(data) == original
    assert original.scope == WindowScope(
        frozenset({"production"}), {"role": "db"}, frozenset({"ledger"})
    )


def test_a_window_with_an_end_reads_back_with_its_end() -> None:
    original = CHRISTMAS_FREEZE
    assert Window.parse(original.as_dict()) == original
    assert original.length == timedelta(days=17)


@pytest.mark.parametrize(
    ("start", "tz", "rule", "since"),
    [
        pytest.param(
            "2016-01-04T23:00",
            "UTC",
            "FREQ=DAILY;INTERVAL=3;BYDAY=MO,WE,FR",
            "2026-02-01",
            id="daily-interval",
        ),
        pytest.param(
            "2019-06-01T22:00",
            "Europe/London",
            "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA,SU",
            "2026-03-20",
            id="fortnightly-weekend",
        ),
        pytest.param(
            "2019-06-03T22:00",
            "Europe/London",
            "FREQ=WEEKLY;INTERVAL=3;WKST=SU;BYDAY=SU,MO",
            "2026-10-01",
            id="wkst-sunday",
        ),
        pytest.param(
            "2017-03-01T01:00",
            "America/New_York",
            "FREQ=DAILY;BYHOUR=1,2,3",
            "2026-03-06",
            id="daily-hours-over-spring-forward",
        ),
        pytest.param(
            "2018-01-31T12:00",
            "UTC",
            "FREQ=MONTHLY;BYMONTHDAY=-1",
            "2026-01-15",
            id="monthly-not-skipped",
        ),
    ],
)
def test_starting_late_gives_what_dateutil_gives_from_the_start(
    start: str, tz: str, rule: str, since: str
) -> None:
    """The skip-ahead for old daily and weekly rules changes no occurrence."""
    subject = window(start, "90m", tz=tz, rrule=rule)
    begins, ends = utc(f"{since} 00:00"), utc(f"{since} 00:00") + timedelta(days=60)
    from_the_start = rrulestr(rule, dtstart=subject.start.replace(tzinfo=ZoneInfo(tz)))
    expected = sorted(
        {
            Interval(moment.astimezone(UTC), moment.astimezone(UTC) + subject.length)
            for moment in from_the_start.between(begins - subject.length, ends, inc=True)
        }
    )
    found = occurrences(subject, begins, ends)
    assert found == [each for each in expected if each.start < ends and each.end > begins]
    assert found  # the range is not empty, so the comparison means something
