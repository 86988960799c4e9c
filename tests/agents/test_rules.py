"""The assignment rules as a table: every pair of states, for agent reports and the server."""

from __future__ import annotations

import hashlib
import itertools
import json

import pytest

from golive.agents.rules import (
    REPORT_TRANSITIONS,
    SERVER_TRANSITIONS,
    AssignmentState,
    canonical_inventory,
    check_move,
    etag,
    etag_matches,
    inventory_digest,
    next_states,
    truncate_output,
)
from golive.errors import ConflictError

P, D, DL, IN, V, S, F, R, K = (
    "pending",
    "dispatched",
    "downloading",
    "installing",
    "verifying",
    "succeeded",
    "failed",
    "rolled_back",
    "skipped",
)

# docs/agent-protocol.md, "Reports", written out by hand: what an agent may report next.
REPORTS: dict[str, set[str]] = {
    P: {DL, F},
    D: {DL, F},
    DL: {IN, F},
    IN: {V, F, R},
    V: {S, F, R},
    S: set(),
    F: set(),
    R: set(),
    K: set(),
}
# The server may also dispatch, and skip what has not started.
SERVER: dict[str, set[str]] = {**REPORTS, P: REPORTS[P] | {D, K}, D: REPORTS[D] | {K}}

PAIRS = list(itertools.product(AssignmentState, AssignmentState))


@pytest.mark.parametrize(("current", "wanted"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_report_pair(current: AssignmentState, wanted: AssignmentState) -> None:
    if current == wanted:
        assert check_move(17, current, wanted) is False  # an idempotent retry
    elif wanted.value in REPORTS[current.value]:
        assert check_move(17, current, wanted) is True
    else:
        with pytest.raises(ConflictError) as refused:
            check_move(17, current, wanted)
        assert refused.value.details["allowed"] == [
            s.value for s in AssignmentState if s.value in REPORTS[current.value]
        ]
        assert f"assignment 17 is {current.value}" in refused.value.message


@pytest.mark.parametrize(("current", "wanted"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_server_pair(current: AssignmentState, wanted: AssignmentState) -> None:
    allowed = wanted == current or wanted.value in SERVER[current.value]
    if allowed:
        assert check_move(1, current, wanted, SERVER_TRANSITIONS) is (wanted != current)
    else:
        with pytest.raises(ConflictError):
            check_move(1, current, wanted, SERVER_TRANSITIONS)


def test_tables_cover_every_state_and_terminal_states_are_final() -> None:
    assert set(REPORT_TRANSITIONS) == set(AssignmentState) == set(SERVER_TRANSITIONS)
    for state in AssignmentState:
        assert state.is_terminal == (next_states(state, SERVER_TRANSITIONS) == [])
    with pytest.raises(ConflictError, match="none, it is finished"):
        check_move(3, AssignmentState.SUCCEEDED, AssignmentState.FAILED)


def test_output_is_cut_to_64_kib_on_a_character_boundary() -> None:
    assert truncate_output(None) is None
    assert truncate_output("short") == "short"
    cut = truncate_output("é" * 40_000)  # two bytes each
    assert cut is not None
    assert len(cut.encode()) == 65_536
    odd = truncate_output("x" + "é" * 40_000)
    assert odd is not None
    assert len(odd.encode()) == 65_535


def test_canonical_inventory_sorts_installed_by_component() -> None:
    body = {
        "unauthorised": [],
        "installed": [
            {"component": "shop", "version": "2", "digest": "b" * 64},
            {"component": "api", "version": "1", "digest": "a" * 64},
        ],
    }
    expected = json.dumps(
        {"installed": sorted(body["installed"], key=lambda e: e["component"]), "unauthorised": []},
        sort_keys=True,
        separators=(",", ":"),
    ).encode()
    assert canonical_inventory(body) == expected
    assert inventory_digest(body) == hashlib.sha256(expected).hexdigest()
    assert body["installed"][0]["component"] == "shop"  # the caller's body is untouched


@pytest.mark.parametrize(
    ("header", "matches"),
    [
        (None, False),
        ("", False),
        ('"7-42"', True),
        ('W/"7-42"', True),
        ('"1-1", "7-42"', True),
        ('"7-4"', False),
        ('"7-420"', False),
        ("7-42", False),
    ],
)
def test_etag_matching(header: str | None, matches: bool) -> None:
    assert etag(7, 42) == '"7-42"'
    assert etag_matches(header, '"7-42"') is matches
