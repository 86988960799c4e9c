"""Deployment strategies as pure functions: no database, no HTTP, no clock.

The engine calls, in this order:

- ``plan(targets, params) -> Plan`` once, when the deployment is created (and for
  ``golive deploy --plan``, with ``estimate``);
- ``initial_progress(plan, now)`` for the first snapshot;
- ``next_actions(plan, progress, now) -> list[Action]`` whenever a record changes or a
  ``WaitUntil`` moment comes, carrying the actions out idempotently and persisting them;
- ``retry_failed(plan, progress)`` for ``golive deployments retry``.

The same functions serve removal deployments: whether an assignment installs or removes a
component is the assignment's business, not the strategy's.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import timedelta

from golive.deployments.strategies.big_bang import plan_big_bang
from golive.deployments.strategies.model import (
    Action,
    Complete,
    CountWave,
    DeploymentProgress,
    Dispatch,
    FailTargets,
    Halt,
    LabelWave,
    Outcome,
    Paused,
    PercentWave,
    Plan,
    RollBack,
    Skip,
    StrategyParams,
    TargetRef,
    Threshold,
    WaitForConfirmation,
    WaitUntil,
    Wave,
    WaveFinished,
    WaveSpec,
)
from golive.deployments.strategies.phased import (
    initial_progress,
    next_actions,
    plan_phased,
    retry_failed,
)
from golive.deployments.strategies.waves import (
    format_duration,
    format_waves,
    params_as_dict,
    parse_duration,
    parse_params,
    parse_threshold,
    parse_waves,
)
from golive.errors import InvalidInputError

__all__ = [
    "Action",
    "Complete",
    "CountWave",
    "DeploymentProgress",
    "Dispatch",
    "FailTargets",
    "Halt",
    "LabelWave",
    "Outcome",
    "Paused",
    "PercentWave",
    "Plan",
    "RollBack",
    "Skip",
    "StrategyParams",
    "TargetRef",
    "Threshold",
    "WaitForConfirmation",
    "WaitUntil",
    "Wave",
    "WaveFinished",
    "WaveSpec",
    "estimate",
    "format_duration",
    "format_waves",
    "initial_progress",
    "next_actions",
    "params_as_dict",
    "parse_duration",
    "parse_params",
    "parse_threshold",
    "parse_waves",
    "plan",
    "retry_failed",
]


def plan(targets: Sequence[TargetRef], params: StrategyParams) -> Plan:
    """The waves of a deployment of ``params.strategy`` to ``targets``.

    Deterministic: the same targets (in any order) and parameters give the same plan, each
    wave's targets sorted by name, every target in exactly one wave.

    Raises:
        InvalidInputError: a target name is empty or appears twice, or the wave specs are
            not valid (waves.py, ``check_waves``).
    """
    names = Counter(target.name for target in targets)
    if "" in names:
        raise InvalidInputError("a target without a name cannot be deployed to")
    twice = sorted(name for name, seen in names.items() if seen > 1)
    if twice:
        raise InvalidInputError(
            f"each target may appear once in a deployment; listed more than once: "
            f"{', '.join(twice)}",
            details={"targets": twice},
        )
    if params.strategy == "big_bang":
        return plan_big_bang(targets, params)
    return plan_phased(targets, params)


def estimate(plan: Plan, per_target_seconds: float) -> timedelta:
    """How long ``plan`` should take, for ``golive deploy --plan``.

    The targets of a wave work in parallel, so each wave costs one target's time, and the
    bake time separates consecutive waves: ``waves * per-target + (waves - 1) * bake``.
    Time spent waiting for a person's confirmation or for offline targets is not counted.
    """
    if per_target_seconds < 0:
        raise InvalidInputError("the time per target cannot be negative")
    count = len(plan.waves)
    if count == 0:
        return timedelta(0)
    return count * timedelta(seconds=per_target_seconds) + (count - 1) * plan.params.bake
