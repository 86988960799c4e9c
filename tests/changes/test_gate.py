"""The wave gate as a pure function: windows, the environment's policy and the change's
planned windows decide whether a wave may start now, and when it opens if not."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from golive.changes.gate import wave_gate
from golive.changes.models import ChangeRequest
from golive.changes.windows import Window


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def window(name: str, kind: str, start: str, **extra: Any) -> Window:
    return Window.parse({"name": name, "kind": kind, "tz": "Europe/London", "start": start,
                         **extra})  # fmt: skip


FREEZE = window("xmas-freeze", "deny", "2026-12-06T00:00:00", end="2026-12-07T00:00:00")
DB_FREEZE = window(
    "db-freeze", "deny", "2026-12-06T00:00:00", end="2026-12-07T00:00:00",
    scope={"labels": {"role": "db"}},
)  # fmt: skip
SATURDAYS = window(
    "saturday-nights", "allow", "2026-11-28T22:00:00", duration="4h", rrule="FREQ=WEEKLY;BYDAY=SA"
)


def change(kind: str = "normal", planned: list[tuple[str, str]] | None = None,
           override: str | None = None) -> ChangeRequest:  # fmt: skip
    return ChangeRequest(
        id=7,
        change_type=kind,
        planned_windows=[
            {"start": utc(a).isoformat(), "end": utc(b).isoformat(), "tz": "UTC"}
            for a, b in planned or []
        ],
        freeze_override_reason=override,
    )


PLANNED = [("2026-12-05T22:00:00", "2026-12-06T04:00:00")]
CASES = [
    ("nothing in the way", [], None, {}, "2026-12-04T12:00:00", True, None, None),
    ("inside a freeze", [FREEZE], None, {}, "2026-12-06T10:00:00", False,
     "2026-12-07T00:00:00", None),
    ("before the freeze: open until it starts", [FREEZE], None, {}, "2026-12-05T23:00:00",
     True, None, "2026-12-06T00:00:00"),
    ("a freeze for other labels", [DB_FREEZE], None, {}, "2026-12-06T10:00:00", True, None,
     None),
    ("policy needs a window: Friday waits for Saturday night", [SATURDAYS], None,
     {"requires_window": True}, "2026-12-04T12:00:00", False, "2026-12-05T22:00:00", None),
    ("inside the Saturday window", [SATURDAYS], None, {"requires_window": True},
     "2026-12-05T23:00:00", True, None, "2026-12-06T02:00:00"),
    ("allow windows alone do not hold work back", [SATURDAYS], None, {},
     "2026-12-04T12:00:00", True, None, None),
    ("the change's window has not opened", [], change(planned=PLANNED), {},
     "2026-12-05T12:00:00", False, "2026-12-05T22:00:00", None),
    ("the change's window is open", [], change(planned=PLANNED), {}, "2026-12-05T23:00:00",
     True, None, "2026-12-06T04:00:00"),
    ("the freeze cuts the change's window short", [FREEZE], change(planned=PLANNED), {},
     "2026-12-05T23:00:00", True, None, "2026-12-06T00:00:00"),
    ("the change's window ends inside the freeze: never opens again", [FREEZE],
     change(planned=PLANNED), {}, "2026-12-06T01:00:00", False, None, None),
    ("an emergency change overrides a freeze with a reason", [FREEZE],
     change("emergency", override="payments down"), {}, "2026-12-06T10:00:00", True, None,
     None),
    ("an emergency change without a reason does not", [FREEZE], change("emergency"), {},
     "2026-12-06T10:00:00", False, "2026-12-07T00:00:00", None),
    ("freeze over Saturday evening: open when it lifts, inside the window", [SATURDAYS, window(
        "long-freeze", "deny", "2026-12-05T00:00:00", end="2026-12-06T00:00:00")], None,
     {"requires_window": True}, "2026-12-05T12:00:00", False, "2026-12-06T00:00:00", None),
    ("the change's window and the maintenance window meet a week later", [SATURDAYS],
     change(planned=[("2026-12-12T21:00:00", "2026-12-12T23:00:00")]),
     {"requires_window": True}, "2026-12-05T12:00:00", False, "2026-12-12T22:00:00", None),
]  # fmt: skip


@pytest.mark.parametrize(
    ("windows", "linked", "policy", "at", "is_open", "opens_at", "closes_at"),
    [case[1:] for case in CASES],
    ids=[case[0] for case in CASES],
)
def test_wave_gate(
    windows: list[Window],
    linked: ChangeRequest | None,
    policy: dict[str, object],
    at: str,
    is_open: bool,
    opens_at: str | None,
    closes_at: str | None,
) -> None:
    gate = wave_gate(
        windows,
        linked,
        at=utc(at),
        environment="production",
        policy=policy,
        label_sets=[{"role": "web"}],
        components=frozenset({"shop"}),
    )
    assert gate.is_open is is_open, gate.reason
    assert gate.opens_at == (utc(opens_at) if opens_at else None)
    assert gate.closes_at == (utc(closes_at) if closes_at else None)
    if not is_open:
        assert gate.reason


def test_an_override_is_reported() -> None:
    gate = wave_gate(
        [FREEZE],
        change("emergency", override="payments down"),
        at=utc("2026-12-06T10:00:00"),
        environment="production",
        policy={},
        label_sets=[{}],
        components=frozenset(),
    )
    assert gate.overridden == ("xmas-freeze",)
