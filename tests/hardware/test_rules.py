"""The hardware item life cycle and stock levels, as pure rules (no server, no database)."""

from __future__ import annotations

import pytest

from golive.errors import ConflictError
from golive.hardware.rules import (
    TRANSITIONS,
    ItemState,
    check_transition,
    is_allowed,
    next_states,
    stock_level,
)

# The specification, written out by hand: row = from, column = to, "x" = allowed.
#             in_store reserved deployed in_repair retired disposed
TABLE = """
in_store     .        x        .        x         x       .
reserved     x        .        x        x         .       .
deployed     x        .        .        x         x       .
in_repair    x        .        .        .         x       .
retired      .        .        .        .         .       x
disposed     .        .        .        .         .       .
"""
COLUMNS = list(ItemState)


def _pairs() -> list[tuple[ItemState, ItemState, bool]]:
    pairs = []
    for line in TABLE.strip().splitlines():
        source, *marks = line.split()
        for target, mark in zip(COLUMNS, marks, strict=True):
            pairs.append((ItemState(source), target, mark == "x"))
    return pairs


def test_the_table_covers_every_pair() -> None:
    assert len(_pairs()) == 36
    assert set(TRANSITIONS) == set(ItemState)


@pytest.mark.parametrize(
    ("current", "wanted", "legal"),
    _pairs(),
    ids=lambda v: str(v) if not isinstance(v, bool) else "",
)
def test_transition(current: ItemState, wanted: ItemState, legal: bool) -> None:
    assert is_allowed(current, wanted) is legal
    if legal:
        check_transition("SN1", current, wanted)
        return
    with pytest.raises(ConflictError) as refused:
        check_transition("SN1", current, wanted)
    allowed = [s.value for s in next_states(current)]
    assert refused.value.message == (
        f"item SN1 is {current.value}; allowed next states: {', '.join(allowed) or 'none'}"
    )
    assert refused.value.details["requested"] == wanted.value
    assert refused.value.details["allowed"] == allowed


@pytest.mark.parametrize(
    ("state", "message"),
    [
        ("in_store", "item SN123 is in_store; allowed next states: reserved, in_repair, retired"),
        ("reserved", "item SN123 is reserved; allowed next states: in_store, deployed, in_repair"),
        ("deployed", "item SN123 is deployed; allowed next states: in_store, in_repair, retired"),
        ("in_repair", "item SN123 is in_repair; allowed next states: in_store, retired"),
        ("retired", "item SN123 is retired; allowed next states: disposed"),
        ("disposed", "item SN123 is disposed; allowed next states: none"),
    ],
)
def test_refusal_names_the_allowed_states_in_life_cycle_order(state: str, message: str) -> None:
    current = ItemState(state)
    with pytest.raises(ConflictError, match="allowed next states") as refused:
        check_transition("SN123", current, current)  # nothing moves to itself
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("counts", "minimum", "in_store", "below"),
    [
        ({}, 0, 0, False),
        ({}, 1, 0, True),
        ({"in_store": 2}, 2, 2, False),
        ({"in_store": 1, "reserved": 5, "deployed": 9}, 2, 1, True),
        ({"in_store": 3, "disposed": 1}, 2, 3, False),
    ],
)
def test_stock_level(counts: dict[str, int], minimum: int, in_store: int, below: bool) -> None:
    level = stock_level("r750", "Dell", "PowerEdge R750", minimum, counts)
    assert (level.in_store, level.below_minimum) == (in_store, below)
    shown = level.as_dict()
    assert list(shown["counts"]) == [s.value for s in ItemState]
    assert sum(shown["counts"].values()) == sum(counts.values())
