"""next_actions(): every rule of phased deployments, as a table of snapshots and answers.

The plan of every case is five targets in three waves, [a] [b] [c d e] ("1,2,100%"),
unless a case says otherwise. States are written short: S succeeded, F failed,
R rolled back by the agent, K skipped, P pending, D dispatched, DL downloading,
I installing, V verifying, - no assignment.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from golive.agents.rules import AssignmentState
from golive.deployments.strategies import (
    Action,
    Complete,
    DeploymentProgress,
    Dispatch,
    FailTargets,
    Halt,
    Paused,
    Plan,
    RollBack,
    Skip,
    TargetRef,
    WaitForConfirmation,
    WaitUntil,
    WaveFinished,
    initial_progress,
    next_actions,
    parse_params,
    plan,
    retry_failed,
)
from golive.errors import ConflictError, InvalidInputError

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
SHORT = {
    "S": AssignmentState.SUCCEEDED,
    "F": AssignmentState.FAILED,
    "R": AssignmentState.ROLLED_BACK,
    "K": AssignmentState.SKIPPED,
    "P": AssignmentState.PENDING,
    "D": AssignmentState.DISPATCHED,
    "DL": AssignmentState.DOWNLOADING,
    "I": AssignmentState.INSTALLING,
    "V": AssignmentState.VERIFYING,
}
NOT_STARTED = {None, AssignmentState.PENDING}


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def states(text: str) -> dict[str, AssignmentState | None]:
    """``"a=S b=D c=-"`` as assignment states."""
    pairs = (word.split("=") for word in text.split())
    return {name: None if code == "-" else SHORT[code] for name, code in pairs}


@dataclass
class Case:
    id: str
    states: str = ""
    expected: list[Action] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)  # parse_params keywords
    progress: dict[str, Any] = field(default_factory=dict)  # DeploymentProgress fields
    now: datetime = T0
    waves: str = "1,2,100%"
    strategy: str = "phased"


def make_plan(case: Case) -> Plan:
    params = parse_params(case.strategy, waves=case.waves, **case.options)
    return plan([TargetRef(name) for name in "abcde"], params)


def snapshot(case: Case) -> DeploymentProgress:
    return DeploymentProgress(states=states(case.states), **case.progress)


DONE_12 = {"wave_started": {1: at(-30), 2: at(-20)}, "wave_finished": {1: at(-25), 2: at(-15)}}
BEGUN_3 = {
    "wave_started": {1: at(-30), 2: at(-20), 3: at(-10)},
    "wave_finished": {1: at(-25), 2: at(-15)},
}
EARLIER_OK = "a=S b=S"


def halt(wave: int, failed: str, size: int, allowed: int, threshold: str) -> str:
    names = ", ".join(failed.split())
    count = len(failed.split())
    return (
        f"wave {wave}: {count} of {size} targets failed ({names}), more than the {allowed} "
        f"allowed by max failures {threshold}"
    )


CASES = [
    # Waves begin one after the other.
    Case("fresh-dispatches-wave-1", "", [Dispatch(1, ("a",))]),
    Case("pending-is-dispatched", "a=P", [Dispatch(1, ("a",))]),
    Case("wave-running-nothing-to-do", "a=D", [], progress={"wave_started": {1: at(0)}}),
    Case("wave-installing-nothing-to-do", "a=I", []),
    Case("no-bake-next-wave-at-once", "a=S", [WaveFinished(1), Dispatch(2, ("b",))]),
    Case("skipped-wave-counts-as-finished", "a=K", [WaveFinished(1), Dispatch(2, ("b",))]),
    Case("last-wave-all-at-once", EARLIER_OK, [Dispatch(3, ("c", "d", "e"))], progress=DONE_12),
    Case(
        "begun-wave-dispatches-the-rest",
        f"{EARLIER_OK} c=S",
        [Dispatch(3, ("d", "e"))],
        progress=BEGUN_3,
    ),
    # Bake time.
    Case("bake-waits-for-the-finish-record", "a=S", [WaveFinished(1)], options={"bake": "2m"}),
    Case(
        "bake-in-progress",
        "a=S",
        [WaitUntil(at(2), "wave 1 is baking before wave 2")],
        options={"bake": "2m"},
        progress={"wave_finished": {1: T0}},
        now=at(1),
    ),
    Case(
        "bake-over",
        "a=S",
        [Dispatch(2, ("b",))],
        options={"bake": "2m"},
        progress={"wave_finished": {1: T0}},
        now=at(2),
    ),
    Case(
        "bake-from-the-last-finish",
        EARLIER_OK,
        [WaitUntil(at(-13), "wave 2 is baking before wave 3")],
        options={"bake": "2m"},
        progress=DONE_12,
        now=at(-14),
    ),
    # Confirmation between waves.
    Case(
        "first-wave-needs-no-confirmation",
        "",
        [Dispatch(1, ("a",))],
        options={"confirm_waves": True},
    ),
    Case(
        "confirm-asked",
        "a=S",
        [WaitForConfirmation(2)],
        options={"confirm_waves": True},
        progress={"wave_finished": {1: T0}},
    ),
    Case(
        "confirmed",
        "a=S",
        [Dispatch(2, ("b",))],
        options={"confirm_waves": True},
        progress={"wave_finished": {1: T0}, "confirmed": frozenset({2})},
    ),
    Case(
        "confirmation-of-another-wave-does-not-count",
        EARLIER_OK,
        [WaitForConfirmation(3)],
        options={"confirm_waves": True},
        progress={**DONE_12, "confirmed": frozenset({2})},
    ),
    Case(
        "confirmed-early-still-bakes",
        "a=S",
        [WaitUntil(at(2), "wave 1 is baking before wave 2")],
        options={"confirm_waves": True, "bake": "2m"},
        progress={"wave_finished": {1: T0}, "confirmed": frozenset({2})},
        now=at(1),
    ),
    Case(
        "asked-after-the-bake",
        "a=S",
        [WaitForConfirmation(2)],
        options={"confirm_waves": True, "bake": "2m"},
        progress={"wave_finished": {1: T0}},
        now=at(3),
    ),
    # Failure threshold per wave.
    Case(
        "any-failure-halts-by-default",
        "a=F",
        [WaveFinished(1), Halt(halt(1, "a", 1, 0, "0")), Complete("failed")],
    ),
    Case(
        "agent-rollback-is-a-failure",
        "a=R",
        [WaveFinished(1), Halt(halt(1, "a", 1, 0, "0")), Complete("failed")],
    ),
    Case(
        "count-within",
        f"{EARLIER_OK} c=F d=S e=S",
        [WaveFinished(3), Complete("succeeded")],
        options={"max_failures": "1"},
        progress=BEGUN_3,
    ),
    Case(
        "count-exceeded",
        f"{EARLIER_OK} c=F d=F e=S",
        [WaveFinished(3), Halt(halt(3, "c d", 3, 1, "1")), Complete("failed")],
        options={"max_failures": "1"},
        progress=BEGUN_3,
    ),
    Case(
        "percent-within",
        f"{EARLIER_OK} c=F d=S e=S",
        [WaveFinished(3), Complete("succeeded")],
        options={"max_failures": "50%"},
        progress=BEGUN_3,
    ),
    Case(
        "percent-exceeded",
        f"{EARLIER_OK} c=F d=R e=S",
        [WaveFinished(3), Halt(halt(3, "c d", 3, 1, "50%")), Complete("failed")],
        options={"max_failures": "50%"},
        progress=BEGUN_3,
    ),
    Case(
        "small-percent-rounds-down-to-none",
        f"{EARLIER_OK} c=F d=S e=S",
        [WaveFinished(3), Halt(halt(3, "c", 3, 0, "5%")), Complete("failed")],
        options={"max_failures": "5%"},
        progress=BEGUN_3,
    ),
    Case(
        "threshold-is-per-wave",
        "a=F b=S",
        [Dispatch(3, ("c", "d", "e"))],
        options={"max_failures": "1"},
        progress=DONE_12,
    ),
    Case(
        "halt-early-running-ones-continue",
        f"{EARLIER_OK} c=F d=I e=-",
        [Halt(halt(3, "c", 3, 0, "0"))],
        progress=BEGUN_3,
    ),
    Case(
        "halt-stops-the-next-wave",
        "a=F",
        [WaveFinished(1), Halt(halt(1, "a", 1, 0, "0")), Complete("failed")],
        options={"confirm_waves": True},
        progress={"confirmed": frozenset({2})},
    ),
    # Rollback on failure.
    Case(
        "rollback-on-failure",
        f"{EARLIER_OK} c=F d=S e=V",
        [Halt(halt(3, "c", 3, 0, "0")), RollBack(("a", "b", "d"), halt(3, "c", 3, 0, "0"))],
        options={"rollback_on_failure": True},
        progress=BEGUN_3,
    ),
    Case(
        "rollback-on-failure-skips-what-has-not-started",
        f"{EARLIER_OK} c=F d=D e=P",
        [
            Halt(halt(3, "c", 3, 0, "0")),
            Skip(("d", "e"), "the deployment is rolling back: " + halt(3, "c", 3, 0, "0")),
            RollBack(("a", "b"), halt(3, "c", 3, 0, "0")),
        ],
        options={"rollback_on_failure": True},
        progress=BEGUN_3,
    ),
    Case(
        "rollback-never-twice-and-late-successes-too",
        f"{EARLIER_OK} c=F d=S e=S",
        [WaveFinished(3), Halt(halt(3, "c", 3, 0, "0")), RollBack(("e",), halt(3, "c", 3, 0, "0"))],
        options={"rollback_on_failure": True},
        progress={**BEGUN_3, "rollbacks": states("a=S b=S d=I")},
    ),
    Case(
        "rollback-waits-for-running-rollbacks",
        f"{EARLIER_OK} c=F d=S e=S",
        [Halt(halt(3, "c", 3, 0, "0"))],
        options={"rollback_on_failure": True},
        progress={
            **BEGUN_3,
            "wave_finished": {1: T0, 2: T0, 3: T0},
            "rollbacks": states("a=S b=S d=I e=D"),
        },
    ),
    Case(
        "rolled-back",
        f"{EARLIER_OK} c=F d=S e=S",
        [Halt(halt(3, "c", 3, 0, "0")), Complete("rolled_back")],
        options={"rollback_on_failure": True},
        progress={
            **BEGUN_3,
            "wave_finished": {1: T0, 2: T0, 3: T0},
            "rollbacks": states("a=S b=S d=S e=S"),
        },
    ),
    Case(
        "a-failed-rollback-fails-the-deployment",
        f"{EARLIER_OK} c=F d=S e=S",
        [Halt(halt(3, "c", 3, 0, "0")), Complete("failed")],
        options={"rollback_on_failure": True},
        progress={
            **BEGUN_3,
            "wave_finished": {1: T0, 2: T0, 3: T0},
            "rollbacks": states("a=S b=F d=S e=S"),
        },
    ),
    Case(
        "rollback-without-failures-does-nothing",
        "a=S",
        [WaveFinished(1), Dispatch(2, ("b",))],
        options={"rollback_on_failure": True},
    ),
    # A requested rollback (golive deployments rollback ID).
    Case(
        "rollback-requested",
        f"{EARLIER_OK} c=D d=I e=-",
        [
            Skip(("c",), "the deployment is rolling back: a rollback was requested"),
            RollBack(("a", "b"), "a rollback was requested"),
        ],
        progress={**BEGUN_3, "rollback_requested": True},
    ),
    Case(
        "rollback-requested-of-nothing",
        "a=F",
        [WaveFinished(1), Halt(halt(1, "a", 1, 0, "0")), Complete("rolled_back")],
        progress={"rollback_requested": True},
    ),
    Case(
        "rollback-requested-after-completion",
        "a=S b=S c=S d=S e=K",
        [
            WaveFinished(1),
            WaveFinished(2),
            WaveFinished(3),
            RollBack(("a", "b", "c", "d"), "a rollback was requested"),
        ],
        progress={"rollback_requested": True},
    ),
    Case(
        "rollback-goes-on-when-aborted-or-paused",
        f"{EARLIER_OK} c=-",
        [RollBack(("a", "b"), "a rollback was requested")],
        progress={**BEGUN_3, "rollback_requested": True, "aborted": True, "paused": True},
    ),
    # Pause.
    Case("paused-before-anything", "", [Paused()], progress={"paused": True}),
    Case(
        "paused-records-the-finish", "a=S", [WaveFinished(1), Paused()], progress={"paused": True}
    ),
    Case(
        "paused-running-continue",
        f"{EARLIER_OK} c=I d=- e=-",
        [Paused()],
        progress={**BEGUN_3, "paused": True},
    ),
    Case(
        "paused-no-confirmation-asked",
        "a=S",
        [Paused()],
        options={"confirm_waves": True},
        progress={"wave_finished": {1: T0}, "paused": True},
    ),
    Case(
        "paused-still-halts",
        "a=F",
        [WaveFinished(1), Halt(halt(1, "a", 1, 0, "0")), Complete("failed")],
        progress={"paused": True},
    ),
    Case(
        "paused-but-done",
        "a=S b=S c=S d=S e=S",
        [Complete("succeeded")],
        progress={"wave_finished": {1: T0, 2: T0, 3: T0}, "paused": True},
    ),
    Case(
        "paused-offline-not-skipped",
        f"{EARLIER_OK} c=- d=S e=S",
        [Paused()],
        progress={**BEGUN_3, "paused": True, "offline_since": {"c": at(-60)}},
    ),
    # Abort.
    Case("aborted-before-anything", "", [Complete("aborted")], progress={"aborted": True}),
    Case(
        "aborted-waits-for-running",
        f"{EARLIER_OK} c=I d=- e=-",
        [],
        progress={**BEGUN_3, "aborted": True},
    ),
    Case(
        "aborted-skips-what-has-not-started",
        f"{EARLIER_OK} c=D d=P e=-",
        [Skip(("c", "d"), "the deployment was aborted")],
        progress={**BEGUN_3, "aborted": True},
    ),
    Case(
        "aborted-done",
        f"{EARLIER_OK} c=S d=K e=-",
        [Complete("aborted")],
        progress={**BEGUN_3, "aborted": True},
    ),
    Case(
        "aborted-after-a-halt-is-aborted",
        "a=F",
        [WaveFinished(1), Halt(halt(1, "a", 1, 0, "0")), Complete("aborted")],
        progress={"aborted": True},
    ),
    # Offline targets.
    Case(
        "offline-waited-for",
        f"{EARLIER_OK} c=- d=- e=-",
        [Dispatch(3, ("d", "e")), WaitUntil(at(10), "waiting for 1 offline target(s)")],
        progress={**DONE_12, "offline_since": {"c": T0}},
        now=at(5),
    ),
    Case(
        "offline-earliest-deadline",
        f"{EARLIER_OK} c=- d=- e=S",
        [WaitUntil(at(7), "waiting for 2 offline target(s)")],
        progress={**BEGUN_3, "offline_since": {"c": at(-3), "d": T0}},
        now=at(5),
    ),
    Case(
        "offline-skipped-after-timeout",
        f"{EARLIER_OK} c=- d=D e=D",
        [Skip(("c",), "offline for longer than 10m")],
        progress={**BEGUN_3, "offline_since": {"c": T0}},
        now=at(10),
    ),
    Case(
        "offline-failed-by-policy",
        f"{EARLIER_OK} c=P d=D e=D",
        [FailTargets(("c",), "offline for longer than 1m")],
        options={"offline_policy": "fail", "offline_timeout": "1m"},
        progress={**BEGUN_3, "offline_since": {"c": T0}},
        now=at(1),
    ),
    Case(
        "offline-after-dispatch-is-skipped-too",
        f"{EARLIER_OK} c=D d=S e=S",
        [Skip(("c",), "offline for longer than 10m")],
        progress={**BEGUN_3, "offline_since": {"c": T0}},
        now=at(11),
    ),
    Case(
        "offline-while-installing-is-left-alone",
        f"{EARLIER_OK} c=I d=S e=S",
        [],
        progress={**BEGUN_3, "offline_since": {"c": T0}},
        now=at(11),
    ),
    Case(
        "offline-back-online-is-dispatched",
        f"{EARLIER_OK} c=- d=S e=S",
        [Dispatch(3, ("c",))],
        progress=BEGUN_3,
        now=at(5),
    ),
    Case(
        "offline-holds-the-next-wave",
        "a=-",
        [WaitUntil(at(10), "waiting for 1 offline target(s)")],
        progress={"offline_since": {"a": T0}},
    ),
    Case(
        "offline-in-a-later-wave-does-not-matter-yet",
        "",
        [Dispatch(1, ("a",))],
        progress={"offline_since": {"c": at(-60)}},
    ),
    Case(
        "skipped-offline-is-not-a-failure",
        f"{EARLIER_OK} c=K d=S e=S",
        [WaveFinished(3), Complete("succeeded")],
        progress=BEGUN_3,
    ),
    Case(
        "failed-offline-is-a-failure",
        f"{EARLIER_OK} c=F d=S e=S",
        [WaveFinished(3), Halt(halt(3, "c", 3, 0, "0")), Complete("failed")],
        options={"offline_policy": "fail"},
        progress=BEGUN_3,
    ),
    # Completion.
    Case(
        "succeeded",
        "a=S b=S c=S d=S e=S",
        [WaveFinished(1), WaveFinished(2), WaveFinished(3), Complete("succeeded")],
    ),
    Case(
        "succeeded-already-recorded",
        "a=S b=S c=S d=S e=S",
        [Complete("succeeded")],
        progress={"wave_finished": {1: T0, 2: T0, 3: T0}},
    ),
    # A big bang is one wave without gates.
    Case(
        "big-bang-all-at-once",
        "",
        [Dispatch(1, ("a", "b", "c", "d", "e"))],
        waves="",
        strategy="big_bang",
    ),
    Case(
        "big-bang-threshold",
        "a=S b=F c=S d=S e=S",
        [WaveFinished(1), Complete("succeeded")],
        options={"max_failures": "20%"},
        waves="",
        strategy="big_bang",
    ),
    Case(
        "all-or-nothing-waits-then-rolls-back",
        "a=S b=F c=I d=S e=D",
        [
            Halt("1 target(s) failed (b) and the deployment is all-or-nothing"),
            Skip(
                ("e",),
                "the deployment is rolling back: "
                "1 target(s) failed (b) and the deployment is all-or-nothing",
            ),
            RollBack(("a", "d"), "1 target(s) failed (b) and the deployment is all-or-nothing"),
        ],
        options={"all_or_nothing": True, "max_failures": "100%"},
        waves="",
        strategy="big_bang",
    ),
    Case(
        "all-or-nothing-rolled-back",
        "a=S b=F c=S d=S e=R",
        [
            WaveFinished(1),
            Halt("2 target(s) failed (b, e) and the deployment is all-or-nothing"),
            Complete("rolled_back"),
        ],
        options={"all_or_nothing": True},
        progress={"rollbacks": states("a=S c=S d=S")},
        waves="",
        strategy="big_bang",
    ),
    Case(
        "all-or-nothing-phased",
        "a=S b=F",
        [
            WaveFinished(2),
            Halt("1 target(s) failed (b) and the deployment is all-or-nothing"),
            RollBack(("a",), "1 target(s) failed (b) and the deployment is all-or-nothing"),
        ],
        options={"all_or_nothing": True, "max_failures": "1"},
        progress={"wave_finished": {1: T0}},
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_next_actions(case: Case) -> None:
    made = make_plan(case)
    progress = snapshot(case)
    actions = next_actions(made, progress, case.now)
    assert actions == case.expected
    # Idempotent: the same snapshot gives the same answer.
    assert next_actions(made, progress, case.now) == actions
    # Never dispatch a target that already has an assignment beyond pending.
    for action in actions:
        if isinstance(action, Dispatch):
            assert all(progress.state_of(name) in NOT_STARTED for name in action.targets)


def test_empty_plan_is_done_at_once() -> None:
    made = plan([], parse_params("phased", waves="1,50%"))
    assert next_actions(made, initial_progress(made, T0), T0) == [Complete("succeeded")]


def test_initial_progress_starts_the_offline_wait() -> None:
    made = plan([TargetRef("a", online=False), TargetRef("b")], parse_params("big_bang"))
    progress = initial_progress(made, T0)
    assert progress.offline_since == {"a": T0}
    assert next_actions(made, progress, at(1)) == [
        Dispatch(1, ("b",)),
        WaitUntil(at(10), "waiting for 1 offline target(s)"),
    ]
    assert next_actions(made, progress, at(10)) == [
        Skip(("a",), "offline for longer than 10m"),
        Dispatch(1, ("b",)),
    ]


def test_a_stranger_in_the_progress_is_refused() -> None:
    made = make_plan(Case("x"))
    with pytest.raises(InvalidInputError, match="not in the plan: zed"):
        next_actions(made, DeploymentProgress(states=states("a=S zed=S")), T0)


# Retry re-runs only the failed targets.


def test_retry_re_runs_only_the_failed_and_lifts_the_halt() -> None:
    made = make_plan(Case("x", options={"bake": "5m"}))
    before = DeploymentProgress(
        states=states("a=S b=S c=F d=S e=R"),
        wave_started=BEGUN_3["wave_started"],
        wave_finished={1: T0, 2: T0, 3: at(1)},
    )
    assert isinstance(next_actions(made, before, at(2))[0], Halt)
    after = retry_failed(made, before)
    assert after.states == states("a=S b=S c=- d=S e=-")
    assert after.wave_finished == {1: T0, 2: T0}
    assert next_actions(made, after, at(2)) == [Dispatch(3, ("c", "e"))]
    assert retry_failed(made, after) == after  # nothing failed: unchanged


def test_retry_of_an_early_wave_goes_on_with_the_later_ones() -> None:
    made = make_plan(Case("x", options={"max_failures": "1"}))
    before = DeploymentProgress(
        states=states("a=F b=S"), wave_started={1: T0, 2: T0}, wave_finished={1: T0, 2: T0}
    )
    after = retry_failed(made, before)
    assert next_actions(made, after, T0) == [Dispatch(1, ("a",))]
    rerun = replace(after, states=states("a=S b=S"))
    assert next_actions(made, rerun, T0) == [WaveFinished(1), Dispatch(3, ("c", "d", "e"))]


@pytest.mark.parametrize(
    ("progress", "message"),
    [
        pytest.param({"aborted": True}, "was aborted", id="aborted"),
        pytest.param({"rollback_requested": True}, "was rolled back", id="rollback-requested"),
        pytest.param({"rollbacks": states("a=S")}, "was rolled back", id="rolled-back"),
    ],
)
def test_retry_refused(progress: dict[str, Any], message: str) -> None:
    made = make_plan(Case("x"))
    with pytest.raises(ConflictError, match=message):
        retry_failed(made, DeploymentProgress(states=states("a=S b=F"), **progress))
