"""Reading ServiceNow-shaped change records (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from golive.changes.rules import ChangeType
from golive.errors import InvalidInputError
from golive.integrations.itsm import Goal, read_record
from golive.integrations.webhooks import matches, next_delay

RECORD: dict[str, Any] = {
    "number": "CHG0030001",
    "short_description": "Shop 2.0 to production",
    "description": "New checkout",
    "type": "Normal",
    "risk": "3 - Moderate",
    "impact": "2 - Medium",
    "state": "-4",
    "start_date": "2026-12-05 22:00:00",
    "end_date": "2026-12-06 02:00:00",
    "u_environment": "production",
    "cmdb_ci": {"value": "a1b2c3", "display_value": "web-01", "link": "https://x/api"},
    "u_components": "shop, basket",
    "backout_plan": "roll back",
    "sys_id": "a1b2c3d4",
    "approval": "approved",
}


def test_a_full_record() -> None:
    wanted = read_record({"result": RECORD})
    assert wanted.external_ref == "CHG0030001"
    assert wanted.change_type == ChangeType.NORMAL
    assert wanted.goal == Goal.SUBMITTED
    assert wanted.fields == {
        "title": "Shop 2.0 to production",
        "description": "New checkout",
        "impact": "2 - Medium",
        "backout_plan": "roll back",
        "risk": "medium",
        "planned_windows": [
            {"start": "2026-12-05 22:00:00", "end": "2026-12-06 02:00:00", "tz": "UTC"}
        ],
        "environments": ["production"],
        "targets": ["web-01"],
        "components": ["shop", "basket"],
    }
    # The approval field is not read: golive's change authority decides (docs/itsm.md).
    assert wanted.ignored == ["approval", "sys_id"]


@pytest.mark.parametrize(
    ("state", "goal"),
    [
        ("new", Goal.DRAFT),
        ("Assess", Goal.SUBMITTED),
        ("authorize", Goal.SUBMITTED),
        ("scheduled", Goal.SUBMITTED),
        ("implement", Goal.SUBMITTED),
        ("review", Goal.IMPLEMENTED),
        ("Closed", Goal.CLOSED),
        ("canceled", Goal.CANCELLED),
        (-5, Goal.DRAFT),
        ("3", Goal.CLOSED),
        ("4", Goal.CANCELLED),
    ],
)
def test_states(state: Any, goal: Goal) -> None:
    assert read_record({"number": "C1", "state": state}).goal == goal


@pytest.mark.parametrize(
    ("risk", "mapped"),
    [("1 - Very High", "high"), ("2", "high"), ("moderate", "medium"), ("4 - Low", "low")],
)
def test_risks(risk: str, mapped: str) -> None:
    assert read_record({"number": "C1", "risk": risk}).fields["risk"] == mapped


@pytest.mark.parametrize(
    ("close_code", "outcome"),
    [(None, "succeeded"), ("successful", "succeeded"), ("unsuccessful", "failed")],
)
def test_close_codes(close_code: str | None, outcome: str) -> None:
    assert read_record({"number": "C1", "close_code": close_code}).outcome == outcome


@pytest.mark.parametrize(
    ("record", "fragment"),
    [
        ({}, "number is required"),
        ([], "JSON object"),
        ({"number": "C1", "state": "pending"}, "state 'pending'"),
        ({"number": "C1", "risk": "9"}, "risk '9'"),
        ({"number": "C1", "type": "urgent"}, "type 'urgent'"),
        ({"number": "C1", "start_date": "2026-12-05 22:00:00"}, "come together"),
        ({"number": "C1", "cmdb_ci": [1, 2]}, "cmdb_ci must be"),
        ({"number": "C1", "short_description": ["a"]}, "short_description must be a string"),
    ],
)
def test_bad_records(record: Any, fragment: str) -> None:
    with pytest.raises(InvalidInputError, match=fragment):
        read_record(record)


def test_event_filters_and_backoff() -> None:
    assert matches(["change.*"], "change.submit")
    assert not matches(["change.*"], "change_authority.create")
    assert matches(["*"], "deployment.failed")
    assert matches(["deployment.failed"], "deployment.failed")
    assert [next_delay(n, (5, 30)) for n in (1, 2, 3)] == [5, 30, None]
