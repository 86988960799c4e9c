"""The ITSM bridge's mapping: a change record from a service management tool, shaped like
ServiceNow's ``change_request``, read into what golive should do with it.

Pure: no database, no HTTP. ``golive.integrations.bridge`` carries the result out through
golive's change control service. docs/itsm.md documents the mapping for ITSM admins.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, TypeVar

from golive.changes.rules import ChangeState, ChangeType, Risk
from golive.errors import InvalidInputError

# Fields golive reads; every other field of the record is ignored and named in the answer.
TEXT_FIELDS = {
    "short_description": "title",
    "description": "description",
    "impact": "impact",
    "backout_plan": "backout_plan",
}
KNOWN_FIELDS = frozenset(
    {
        "number",
        "type",
        "risk",
        "state",
        "start_date",
        "end_date",
        "u_time_zone",
        "cmdb_ci",
        "u_environment",
        "u_components",
        "u_change_model",
        "close_code",
        "close_notes",
        *TEXT_FIELDS,
    }
)


class Goal(IntEnum):
    """How far along golive's life cycle the ITSM tool's state asks the change to be."""

    DRAFT = 0
    SUBMITTED = 1
    IMPLEMENTED = 3
    CLOSED = 4
    CANCELLED = 9


# ServiceNow's change_request states (names, and the numbers its Table API sends).
# Scheduled and Implement mean "authorised" there; golive authorises only through its own
# change authority, so the bridge takes them as no more than submitted.
STATES: Mapping[str, Goal] = {
    "new": Goal.DRAFT,
    "-5": Goal.DRAFT,
    "assess": Goal.SUBMITTED,
    "-4": Goal.SUBMITTED,
    "authorize": Goal.SUBMITTED,
    "authorise": Goal.SUBMITTED,
    "-3": Goal.SUBMITTED,
    "scheduled": Goal.SUBMITTED,
    "-2": Goal.SUBMITTED,
    "implement": Goal.SUBMITTED,
    "-1": Goal.SUBMITTED,
    "review": Goal.IMPLEMENTED,
    "0": Goal.IMPLEMENTED,
    "closed": Goal.CLOSED,
    "3": Goal.CLOSED,
    "canceled": Goal.CANCELLED,
    "cancelled": Goal.CANCELLED,
    "4": Goal.CANCELLED,
}

# ServiceNow risk: 1 - Very High, 2 - High, 3 - Moderate, 4 - Low.
RISKS: Mapping[str, Risk] = {
    "1": Risk.HIGH,
    "very high": Risk.HIGH,
    "2": Risk.HIGH,
    "high": Risk.HIGH,
    "3": Risk.MEDIUM,
    "moderate": Risk.MEDIUM,
    "medium": Risk.MEDIUM,
    "4": Risk.LOW,
    "low": Risk.LOW,
}

# ServiceNow close codes to golive outcomes.
OUTCOMES: Mapping[str, str] = {
    "successful": "succeeded",
    "successful_issues": "succeeded_with_issues",
    "successful with issues": "succeeded_with_issues",
    "unsuccessful": "failed",
}

# Rank of golive's states along the way to closed (rejected and cancelled end it).
RANKS: Mapping[ChangeState, int] = {
    ChangeState.DRAFT: 0,
    ChangeState.SUBMITTED: 1,
    ChangeState.AUTHORISED: 2,
    ChangeState.IMPLEMENTED: 3,
    ChangeState.CLOSED: 4,
}

T = TypeVar("T")
_LEADING_NUMBER = re.compile(r"^(-?\d+)\s*-\s*(.*)$")  # "3 - Moderate"


@dataclass(frozen=True)
class ItsmChange:
    """What the ITSM tool asks for.

    Attributes:
        external_ref: the tool's number (ServiceNow ``number``).
        fields: golive change fields given, in the shape of ChangeCreate/ChangeUpdate.
        change_type: the change type, when given.
        model: the standard change model, when given.
        goal: how far along the change should be; None: the state was not given.
        outcome: the outcome to record if the bridge must mark the work implemented.
        reason: why (ServiceNow ``close_notes``), for cancelling, implementing, closing.
        ignored: fields of the record golive does not read.
    """

    external_ref: str
    fields: dict[str, Any] = field(default_factory=dict)
    change_type: ChangeType | None = None
    model: str | None = None
    goal: Goal | None = None
    outcome: str = "succeeded"
    reason: str = ""
    ignored: list[str] = field(default_factory=list)


def read_record(body: Any) -> ItsmChange:
    """Read a change record (a JSON object, or a Table API answer ``{"result": {...}}``).

    Raises:
        InvalidInputError: a field golive reads has a value it cannot map; the message
            names the field and what it accepts.
    """
    if isinstance(body, dict) and set(body) == {"result"} and isinstance(body["result"], dict):
        body = body["result"]
    if not isinstance(body, dict):
        raise InvalidInputError("the body must be a JSON object: one change record")
    record = {key: _plain(value) for key, value in body.items()}
    number = _text(record, "number")
    if number is None:
        raise InvalidInputError(
            "number is required: the ITSM tool's reference of the change (e.g. CHG0030001)"
        )
    if len(number) > 128:
        raise InvalidInputError("number is longer than 128 characters")
    fields: dict[str, Any] = {}
    for source, target in TEXT_FIELDS.items():
        value = _text(record, source, keep_empty=source != "short_description")
        if value is not None:
            fields[target] = value
    risk = _text(record, "risk")
    if risk is not None:
        fields["risk"] = _lookup(RISKS, risk, "risk", "1-4, very high, high, moderate or low")
    window = _window(record)
    if window is not None:
        fields["planned_windows"] = [window]
    for source, target in (
        ("u_environment", "environments"),
        ("cmdb_ci", "targets"),
        ("u_components", "components"),
    ):
        names = _names(record, source)
        if names is not None:
            fields[target] = names
    change_type = None
    kind = _text(record, "type")
    if kind is not None:
        try:
            change_type = ChangeType(kind.lower())
        except ValueError:
            raise InvalidInputError(
                f"type {kind!r} is not standard, normal or emergency", details={"field": "type"}
            ) from None
    state = _text(record, "state")
    goal = None if state is None else _lookup(STATES, state, "state", _STATE_NAMES)
    close_code = _text(record, "close_code")
    outcome = "succeeded"
    if close_code is not None:
        outcome = _lookup(OUTCOMES, close_code, "close_code", _CLOSE_CODES)
    return ItsmChange(
        external_ref=number,
        fields=fields,
        change_type=change_type,
        model=_text(record, "u_change_model"),
        goal=goal,
        outcome=outcome,
        reason=_text(record, "close_notes", keep_empty=True) or "",
        ignored=sorted(key for key in record if key not in KNOWN_FIELDS),
    )


_CLOSE_CODES = "successful, successful_issues or unsuccessful"
_STATE_NAMES = "new, assess, authorize, scheduled, implement, review, closed or canceled"


def _plain(value: Any) -> Any:
    """A reference field sent with display values ({"value": …, "display_value": …}) as
    the readable name; everything else as it is."""
    if isinstance(value, dict) and "display_value" in value:
        return value["display_value"]
    if isinstance(value, list):
        return [_plain(item) for item in value]
    return value


def _text(record: Mapping[str, Any], key: str, *, keep_empty: bool = False) -> str | None:
    """A string field; absent, null or (unless ``keep_empty``) "" read as not given."""
    value = record.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise InvalidInputError(f"{key} must be a string", details={"field": key})
    text = str(value).strip()
    if not text and not keep_empty:
        return None
    return text


def _lookup(table: Mapping[str, T], given: str, key: str, accepted: str) -> T:
    text = given.strip().lower()
    numbered = _LEADING_NUMBER.match(text)
    for candidate in (text, *(numbered.groups() if numbered else ())):
        if candidate.strip() in table:
            return table[candidate.strip()]
    raise InvalidInputError(
        f"{key} {given!r} is not one golive maps; use {accepted}", details={"field": key}
    )


def _names(record: Mapping[str, Any], key: str) -> list[str] | None:
    """A list of names: a JSON list, or one string with names separated by commas."""
    value = record.get(key)
    if value is None or value == "":
        return None
    items = value if isinstance(value, list) else [value]
    names: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InvalidInputError(
                f"{key} must be a name, a comma-separated string of names or a list of names",
                details={"field": key},
            )
        names.extend(part.strip() for part in item.split(",") if part.strip())
    return names


def _window(record: Mapping[str, Any]) -> dict[str, str] | None:
    start, end = _text(record, "start_date"), _text(record, "end_date")
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise InvalidInputError(
            "start_date and end_date come together: the planned window of the work",
            details={"field": "start_date" if start is None else "end_date"},
        )
    return {"start": start, "end": end, "tz": _text(record, "u_time_zone") or "UTC"}
