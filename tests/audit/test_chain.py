"""The hash chain's rules, without a database."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from golive.audit.chain import GENESIS_HASH, event_hash, verify_events


def _chain(count: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    previous = GENESIS_HASH
    for seq in range(1, count + 1):
        event: dict[str, Any] = {
            "seq": seq,
            "occurred_at": f"2026-11-26T10:00:0{seq}.000000Z",
            "actor": "alice",
            "action": "target.create",
            "subject_type": "target",
            "subject_id": f"t{seq}",
            "before": None,
            "after": {"labels": {"role": "web"}, "ünï": "cödé"},
            "reason": None,
            "prev_hash": previous,
        }
        event["hash"] = event_hash(event)
        previous = event["hash"]
        events.append(event)
    return events


def _edit(field: str, value: Any) -> Any:
    def change(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
        events[2][field] = value
        return events

    return change


CASES = [
    ("intact", lambda e: e, None),
    ("actor changed", _edit("actor", "mallory"), 3),
    ("summary changed", _edit("after", {"labels": {"role": "db"}}), 3),
    ("reason added", _edit("reason", "cover-up"), 3),
    ("time changed", _edit("occurred_at", "2026-11-26T09:00:00.000000Z"), 3),
    ("middle deleted", lambda e: e[:2] + e[3:], 3),
    ("first deleted", lambda e: e[1:], 1),
    ("two swapped", lambda e: [e[0], e[2], e[1], *e[3:]], 2),
    ("rehashed after edit", lambda e: _rehash_one(e, 3), 4),
]


def _rehash_one(events: list[dict[str, Any]], seq: int) -> list[dict[str, Any]]:
    # A forger who recomputes the edited event's own hash still breaks the link after it.
    events[seq - 1]["actor"] = "mallory"
    events[seq - 1]["hash"] = event_hash(events[seq - 1])
    return events


@pytest.mark.parametrize(("name", "tamper", "broken"), CASES, ids=[c[0] for c in CASES])
def test_verify_names_the_first_broken_event(name: str, tamper: Any, broken: int | None) -> None:
    verdict = verify_events(tamper(copy.deepcopy(_chain(5))))
    assert verdict.ok is (broken is None)
    assert verdict.broken_seq == broken
    if broken is not None:
        assert verdict.problem
        assert verdict.checked == broken - 1


def test_truncated_tail_is_caught_by_the_head() -> None:
    events = _chain(5)
    head = (5, events[-1]["hash"])
    assert verify_events(events, expected_head=head).ok
    verdict = verify_events(events[:4], expected_head=head)
    assert not verdict.ok
    assert verdict.broken_seq == 5


def test_empty_chain_is_intact() -> None:
    verdict = verify_events([], expected_head=(0, GENESIS_HASH))
    assert verdict.ok
    assert verdict.last_hash == GENESIS_HASH


def test_hash_covers_every_field_but_itself() -> None:
    event = _chain(1)[0]
    for field in event:
        if field == "hash":
            continue
        changed = dict(event)
        changed[field] = "x" if not isinstance(event[field], str) else event[field] + "x"
        assert event_hash(changed) != event["hash"], field
