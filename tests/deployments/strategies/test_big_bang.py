"""Big bang played to its end: everything at once, optionally all or nothing."""

from __future__ import annotations

import random

import pytest

from golive.deployments.strategies import (
    Dispatch,
    TargetRef,
    initial_progress,
    next_actions,
    parse_params,
    plan,
)
from tests.deployments.strategies.test_simulation import FAIL, GONE, OK, T0, simulate

NAMES = [f"host{number:02}" for number in range(12)]


@pytest.mark.parametrize(
    ("options", "fates", "outcome", "rolled_back"),
    [
        pytest.param({}, {}, "succeeded", 0, id="all-succeed"),
        pytest.param({}, {"host03": FAIL}, "failed", 0, id="one-fails"),
        pytest.param(
            {"max_failures": "1"}, {"host03": FAIL}, "succeeded", 0, id="within-threshold"
        ),
        pytest.param({"all_or_nothing": True}, {}, "succeeded", 0, id="all-or-nothing-clean"),
        pytest.param(
            {"all_or_nothing": True}, {"host03": FAIL}, "rolled_back", 11, id="all-or-nothing"
        ),
        pytest.param(
            {"all_or_nothing": True, "max_failures": "50%"},
            {"host03": FAIL},
            "rolled_back",
            11,
            id="all-or-nothing-ignores-threshold",
        ),
        pytest.param(
            {"offline_timeout": "0s"}, {"host05": GONE}, "succeeded", 0, id="offline-skipped"
        ),
        pytest.param(
            {"offline_timeout": "0s", "offline_policy": "fail"},
            {"host05": GONE},
            "failed",
            0,
            id="offline-failed",
        ),
    ],
)
def test_big_bang(
    options: dict[str, object], fates: dict[str, str], outcome: str, rolled_back: int
) -> None:
    targets = [TargetRef(name, online=fates.get(name) != GONE) for name in NAMES]
    made = plan(targets, parse_params("big_bang", **options))
    everyone = {name: fates.get(name, OK) for name in NAMES}
    run = simulate(made, everyone, random.Random(7))
    assert run.outcome == outcome
    assert sum(run.rolled_back.values()) == rolled_back
    assert all(count == 1 for count in run.dispatched.values())


def test_every_online_target_is_dispatched_in_the_first_answer() -> None:
    targets = [TargetRef(name, online=name != "host00") for name in NAMES]
    made = plan(targets, parse_params("big_bang"))
    first = next_actions(made, initial_progress(made, T0), T0)
    assert first[0] == Dispatch(1, tuple(NAMES[1:]))
