"""The dashboard's rule for one component in one environment (pure)."""

from __future__ import annotations

import pytest

from golive.deployments.overview import cell_state


@pytest.mark.parametrize(
    ("versions", "latest", "mismatched", "unauthorised", "state", "flags"),
    [
        ({}, None, [], [], "absent", ()),
        ({"1": 3}, "succeeded", [], [], "current", ()),
        ({"1": 3}, "running", [], [], "in_progress", ("in_progress",)),
        ({"1": 3}, "waiting_for_confirmation", [], [], "in_progress", ("in_progress",)),
        ({"1": 1}, "halted", [], [], "failed", ("failed",)),
        ({"1": 3}, "rolled_back", [], [], "failed", ("failed",)),
        ({"1": 3}, "aborted", [], [], "current", ()),
        ({"1": 2, "2": 1}, "failed", [], [], "failed", ("failed", "drift")),
        ({"1": 2, "2": 1}, "succeeded", [], [], "drift", ("drift",)),
        ({"1": 3}, None, ["web-02"], [], "drift", ("drift",)),
        ({"1": 3}, None, [], ["web-03"], "drift", ("drift",)),
        ({"1": 2, "2": 1}, "running", ["web-01"], [], "in_progress", ("in_progress", "drift")),
    ],
)
def test_cell_state(
    versions: dict[str, int],
    latest: str | None,
    mismatched: list[str],
    unauthorised: list[str],
    state: str,
    flags: tuple[str, ...],
) -> None:
    found, found_flags, notes = cell_state(
        versions=versions, latest_state=latest, mismatched=mismatched, unauthorised=unauthorised
    )
    assert (found, found_flags) == (state, flags)
    assert len(notes) >= len(flags)
