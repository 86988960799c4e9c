"""Rules of the definitive hardware store, as data and pure functions.

ITIL 4 deployment management keeps spare hardware in a definitive hardware
store: built to a known standard and held so that nothing changes it before it
is deployed. The item life cycle below is that rule written as a table.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from golive.errors import ConflictError


class ItemState(StrEnum):
    """Where a hardware item stands."""

    IN_STORE = "in_store"
    RESERVED = "reserved"
    DEPLOYED = "deployed"
    IN_REPAIR = "in_repair"
    RETIRED = "retired"
    DISPOSED = "disposed"


_S = ItemState

# Which state may follow which. Nothing leaves ``disposed``; nothing moves to itself.
TRANSITIONS: Mapping[ItemState, frozenset[ItemState]] = MappingProxyType(
    {
        _S.IN_STORE: frozenset({_S.RESERVED, _S.IN_REPAIR, _S.RETIRED}),
        _S.RESERVED: frozenset({_S.IN_STORE, _S.DEPLOYED, _S.IN_REPAIR}),
        _S.DEPLOYED: frozenset({_S.IN_REPAIR, _S.IN_STORE, _S.RETIRED}),
        _S.IN_REPAIR: frozenset({_S.IN_STORE, _S.RETIRED}),
        _S.RETIRED: frozenset({_S.DISPOSED}),
        _S.DISPOSED: frozenset(),
    }
)

# An item names a target only while it is reserved for it or deployed to it.
HOLDS_TARGET = frozenset({_S.RESERVED, _S.DEPLOYED})

# The recorded build may change only while the item is in the store or being repaired
# (rebuilt); once reserved it is held as built, and after that the target's records own it.
BUILD_EDITABLE = frozenset({_S.IN_STORE, _S.IN_REPAIR})


def next_states(state: ItemState) -> list[ItemState]:
    """The states ``state`` may move to, in life-cycle order."""
    allowed = TRANSITIONS[state]
    return [candidate for candidate in ItemState if candidate in allowed]


def is_allowed(current: ItemState, wanted: ItemState) -> bool:
    return wanted in TRANSITIONS[current]


def describe(states: list[ItemState]) -> str:
    return ", ".join(state.value for state in states) or "none"


def check_transition(serial: str, current: ItemState, wanted: ItemState) -> None:
    """Raise ConflictError naming the allowed next states unless ``current -> wanted`` is legal."""
    if is_allowed(current, wanted):
        return
    allowed = next_states(current)
    raise ConflictError(
        f"item {serial} is {current.value}; allowed next states: {describe(allowed)}",
        details={
            "serial": serial,
            "state": current.value,
            "requested": wanted.value,
            "allowed": [state.value for state in allowed],
        },
    )


@dataclass(frozen=True)
class StockLevel:
    """How many items of one hardware model are in each state, against its minimum."""

    model: str
    vendor: str
    vendor_model: str
    minimum_stock: int
    counts: Mapping[ItemState, int]

    @property
    def in_store(self) -> int:
        return self.counts.get(ItemState.IN_STORE, 0)

    @property
    def below_minimum(self) -> bool:
        # Only items in the store count: a reserved item is already promised to a target.
        return self.in_store < self.minimum_stock

    def as_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "vendor": self.vendor,
            "vendor_model": self.vendor_model,
            "minimum_stock": self.minimum_stock,
            "in_store": self.in_store,
            "below_minimum": self.below_minimum,
            "counts": {state.value: self.counts.get(state, 0) for state in ItemState},
        }


def stock_level(
    model: str, vendor: str, vendor_model: str, minimum_stock: int, counts: Mapping[str, int]
) -> StockLevel:
    """A model's stock level from its per-state item counts (states without items count 0)."""
    by_state = {state: int(counts.get(state.value, 0)) for state in ItemState}
    return StockLevel(model, vendor, vendor_model, minimum_stock, by_state)
