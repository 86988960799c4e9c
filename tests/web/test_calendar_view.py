"""The schedule's week and month grids (pure)."""

from __future__ import annotations

from datetime import date

import pytest

from golive.web.calendar_view import days_of, items_of, span_of


@pytest.mark.parametrize(
    ("view", "anchor", "first", "after"),
    [
        ("week", date(2030, 1, 2), date(2029, 12, 31), date(2030, 1, 7)),  # a Wednesday
        ("week", date(2029, 12, 31), date(2029, 12, 31), date(2030, 1, 7)),  # a Monday
        ("month", date(2030, 1, 15), date(2029, 12, 31), date(2030, 2, 4)),
        ("month", date(2030, 9, 30), date(2030, 8, 26), date(2030, 10, 7)),  # 1 Sep: Sunday
        ("month", date(2029, 10, 1), date(2029, 10, 1), date(2029, 11, 5)),  # 1 Oct: Monday
    ],
)
def test_grids_start_on_monday_and_cover_whole_weeks(
    view: str, anchor: date, first: date, after: date
) -> None:
    start, end = span_of(view, anchor)
    assert (start, end) == (first, after)
    assert start.weekday() == 0
    assert (end - start).days % 7 == 0


def test_items_land_on_every_day_they_touch_and_clashes_are_marked() -> None:
    plan = {
        "windows": [
            {
                "name": "freeze",
                "kind": "deny",
                "occurrences": [
                    {"start": "2030-01-01T22:00:00+00:00", "end": "2030-01-02T06:00:00+00:00"}
                ],
            }
        ],
        "changes": [],
        "deployments": [
            {
                "kind": "deployment",
                "ref": "deployment 7",
                "title": "shop@2",
                "start": "2030-01-01T23:00:00+00:00",
                "end": "2030-01-01T23:30:00+00:00",
                "environment": "production",
                "state": "running",
            }
        ],
        "conflicts": [{"refs": ["deployment 7"], "windows": ["freeze"]}],
    }
    items = items_of(plan)
    days = days_of(items, date(2030, 1, 1), date(2030, 1, 3), month=None, today=date(2030, 1, 2))
    assert [[i.ref for i in d.items] for d in days] == [["freeze", "deployment 7"], ["freeze"]]
    assert all(i.clash for i in items)
    assert days[1].today
    assert not days[0].today
    assert items[1].href == "/console/deployments/7"
