"""Phased deployments: waves, bake time, a failure threshold per wave, confirmation between
waves, pause, abort, offline targets, rollback and retry (DESIGN.md, "The four approaches").

``next_actions`` is the step rule of both strategies: a big bang is a phased deployment of
one wave. It reads a snapshot of the records and returns what the engine should do next;
the engine carries the actions out, persists the result and asks again. The strategy does
not care whether an assignment installs or removes a component, so removal deployments use
the same rules.

The rules, in the order they apply:

1. A wave whose targets are all terminal and whose finish is not recorded yields
   ``WaveFinished`` (bake time is measured from the recorded moment).
2. Failures (failed, or rolled back by the agent after a failed health check) above
   ``max_failures`` in any one wave, or any failure with ``all_or_nothing``, yield ``Halt``:
   no further wave starts; assignments already running continue.
3. A requested rollback, or a halt with ``rollback_on_failure`` or ``all_or_nothing``,
   skips what has not started, yields ``RollBack`` for every succeeded target not rolled
   back yet, and ``Complete("rolled_back")`` once nothing runs (``"failed"`` if a rollback
   failed). A rollback once begun runs to its end: abort and pause do not stop it.
4. Abort skips what has not started and yields ``Complete("aborted")`` once nothing runs
   (also after a halt without rollback: the person's decision is the outcome).
5. A halt without rollback yields ``Complete("failed")`` once nothing runs.
6. When every wave has finished: ``Complete("succeeded")`` (failures within the threshold
   and skipped targets do not change that; they are in the per-target results).
7. Pause yields only ``Paused()``: nothing is dispatched, skipped or failed, no wait is
   announced; running assignments continue and rules 1-6 still apply.
8. Waves that have begun dispatch their targets without an assignment (or pending). The
   next wave begins only when every earlier wave has finished, its bake time has passed
   since the last of them finished (``WaitUntil``) and, with ``confirm_waves``, a person has
   confirmed it (``WaitForConfirmation``, asked once the bake time is over; the first wave
   needs no confirmation).
9. An offline target (in ``offline_since``) that has not started is not dispatched; once
   ``offline_timeout`` has passed since it was first seen offline it is skipped or failed
   by ``offline_policy`` (a failed one counts against the threshold). Until then the
   engine gets a ``WaitUntil`` at the earliest such deadline.

A target that has an assignment beyond pending is never dispatched again, and the same
snapshot always gives the same actions.

Retry: ``retry_failed`` returns the snapshot in which every failed target has no
assignment again (and its wave is no longer finished); ``next_actions`` on it re-dispatches
exactly those targets and then carries on with any waves not yet begun.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

from golive.agents.rules import AssignmentState
from golive.deployments.strategies.model import (
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
    StrategyParams,
    TargetRef,
    WaitForConfirmation,
    WaitUntil,
    Wave,
    WaveFinished,
)
from golive.deployments.strategies.waves import (
    check_waves,
    format_duration,
    share_out,
    with_everything,
)
from golive.errors import ConflictError, InvalidInputError

_S = AssignmentState

# Not started: no assignment yet, or one the engine created but has not dispatched.
NOT_STARTED: frozenset[AssignmentState | None] = frozenset({None, _S.PENDING})
# Running: the target holds the assignment; it ends on its own (agents never stop halfway).
RUNNING = frozenset({_S.DISPATCHED, _S.DOWNLOADING, _S.INSTALLING, _S.VERIFYING})
# What may still be cancelled: nothing has reached the target yet (SERVER_TRANSITIONS).
CANCELLABLE: frozenset[AssignmentState | None] = frozenset({_S.PENDING, _S.DISPATCHED})
# agents/rules.py: an agent reports rolled_back when the new version failed its health check.
FAILURES = frozenset({_S.FAILED, _S.ROLLED_BACK})
_SHOWN_NAMES = 5


def plan_phased(targets: Sequence[TargetRef], params: StrategyParams) -> Plan:
    """The waves of ``params.waves`` over ``targets`` (waves.py, ``share_out``).

    Empty waves are dropped and the rest numbered 1, 2, …; a final 100 % is implied.

    Raises:
        InvalidInputError: the wave specs break a rule of ``check_waves``.
    """
    check_waves(params.waves)
    shares = share_out(targets, with_everything(params.waves))
    filled = [tuple(names) for names in shares if names]
    waves = tuple(Wave(index, names) for index, names in enumerate(filled, start=1))
    offline = frozenset(target.name for target in targets if not target.online)
    return Plan(waves=waves, params=params, offline=offline)


def initial_progress(plan: Plan, now: datetime) -> DeploymentProgress:
    """The snapshot of a deployment that has not begun: targets offline at planning time
    are offline since ``now``, so their wait starts when the deployment does."""
    return DeploymentProgress(offline_since=dict.fromkeys(sorted(plan.offline), now))


def retry_failed(plan: Plan, progress: DeploymentProgress) -> DeploymentProgress:
    """``progress`` with every failed target unassigned again, so that it alone is re-run.

    The engine persists this by superseding those targets' failed assignments; the next
    ``next_actions`` dispatches fresh ones (a halt caused by them lifts, the wave's bake
    time starts again once it finishes). Nothing failed: ``progress`` unchanged.

    Raises:
        ConflictError: the deployment was aborted or rolled back; deploy again instead.
    """
    _check_snapshot(plan, progress)
    if progress.rollback_requested or progress.rollbacks:
        raise ConflictError("the deployment was rolled back; start a new deployment to retry")
    if progress.aborted:
        raise ConflictError("the deployment was aborted; start a new deployment to retry")
    failed = {name for name in plan.targets if progress.state_of(name) in FAILURES}
    if not failed:
        return progress
    reopened = {plan.wave_of(name) for name in failed}
    return replace(
        progress,
        states={name: None if name in failed else state for name, state in progress.states.items()},
        wave_finished={
            index: moment
            for index, moment in progress.wave_finished.items()
            if index not in reopened
        },
    )


def next_actions(plan: Plan, progress: DeploymentProgress, now: datetime) -> list[Action]:
    """What the engine should do next for a deployment in the state ``progress`` at ``now``.

    See the module docstring for the rules. Deterministic: target names are sorted.

    Raises:
        InvalidInputError: ``progress`` names a target that is not in the plan.
    """
    _check_snapshot(plan, progress)
    actions: list[Action] = [
        WaveFinished(wave.index)
        for wave in plan.waves
        if wave.index not in progress.wave_finished and _is_finished(wave, progress)
    ]
    halt_reason = _halt_reason(plan, progress)
    if halt_reason is not None:
        actions.append(Halt(halt_reason))
    params = plan.params
    if progress.rollback_requested:
        return actions + _roll_back(plan, progress, "a rollback was requested")
    if halt_reason is not None and (params.rollback_on_failure or params.all_or_nothing):
        return actions + _roll_back(plan, progress, halt_reason)
    if progress.aborted:
        return actions + _wind_down(plan, progress)
    if halt_reason is not None:
        if not _running(plan, progress):
            actions.append(Complete("failed"))
        return actions
    if all(_is_finished(wave, progress) for wave in plan.waves):
        return [*actions, Complete("succeeded")]
    if progress.paused:
        return [*actions, Paused()]
    return actions + _advance(plan, progress, now)


def _check_snapshot(plan: Plan, progress: DeploymentProgress) -> None:
    known = set(plan.targets)
    strangers = sorted(name for name in progress.states if name not in known)
    if strangers:
        raise InvalidInputError(
            f"the progress names targets that are not in the plan: {_names(strangers)}",
            details={"targets": strangers},
        )


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN_NAMES])
    more = len(names) - _SHOWN_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def _is_finished(wave: Wave, progress: DeploymentProgress) -> bool:
    return all(_is_terminal(progress.state_of(name)) for name in wave.targets)


def _is_terminal(state: AssignmentState | None) -> bool:
    return state is not None and state.is_terminal


def _has_begun(wave: Wave, progress: DeploymentProgress) -> bool:
    return wave.index in progress.wave_started or any(
        progress.state_of(name) not in NOT_STARTED for name in wave.targets
    )


def _running(plan: Plan, progress: DeploymentProgress) -> bool:
    return any(progress.state_of(name) in RUNNING for name in plan.targets) or any(
        not state.is_terminal for state in progress.rollbacks.values()
    )


def _halt_reason(plan: Plan, progress: DeploymentProgress) -> str | None:
    params = plan.params
    if params.all_or_nothing:
        failed = [name for name in plan.targets if progress.state_of(name) in FAILURES]
        if failed:
            return (
                f"{len(failed)} target(s) failed ({_names(sorted(failed))}) "
                f"and the deployment is all-or-nothing"
            )
    for wave in plan.waves:
        failed = [name for name in wave.targets if progress.state_of(name) in FAILURES]
        allowed = params.max_failures.allowed(len(wave.targets))
        if len(failed) > allowed:
            return (
                f"wave {wave.index}: {len(failed)} of {len(wave.targets)} targets failed "
                f"({_names(failed)}), more than the {allowed} allowed by max failures "
                f"{params.max_failures}"
            )
    return None


def _roll_back(plan: Plan, progress: DeploymentProgress, reason: str) -> list[Action]:
    actions = _cancel_unstarted(plan, progress, f"the deployment is rolling back: {reason}")
    pending = [
        name
        for name in plan.targets
        if progress.state_of(name) == _S.SUCCEEDED and name not in progress.rollbacks
    ]
    if pending:
        actions.append(RollBack(tuple(sorted(pending)), reason))
    elif not actions and not _running(plan, progress):
        clean = all(state not in FAILURES for state in progress.rollbacks.values())
        actions.append(Complete("rolled_back" if clean else "failed"))
    return actions


def _wind_down(plan: Plan, progress: DeploymentProgress) -> list[Action]:
    actions = _cancel_unstarted(plan, progress, "the deployment was aborted")
    if not actions and not _running(plan, progress):
        actions.append(Complete("aborted"))
    return actions


def _cancel_unstarted(plan: Plan, progress: DeploymentProgress, reason: str) -> list[Action]:
    cancelled = [name for name in plan.targets if progress.state_of(name) in CANCELLABLE]
    return [Skip(tuple(sorted(cancelled)), reason)] if cancelled else []


def _advance(plan: Plan, progress: DeploymentProgress, now: datetime) -> list[Action]:
    """Rules 8 and 9: dispatch what begun waves still owe, or open the next wave."""
    actions: list[Action] = []
    deadlines: list[datetime] = []
    expired: list[str] = []
    in_flight = False
    for wave in plan.waves:
        if _is_finished(wave, progress):
            continue
        if not _has_begun(wave, progress):
            if in_flight:
                break
            gate = _gate(wave, plan, progress, now)
            if gate is not None:
                actions.extend(gate)
                break
        in_flight = True
        dispatch = _work_on(wave, plan, progress, now, deadlines, expired)
        if dispatch:
            actions.append(Dispatch(wave.index, tuple(dispatch)))
    if expired:
        reason = f"offline for longer than {format_duration(plan.params.offline_timeout)}"
        names = tuple(sorted(expired))
        verdict: Action = (
            Skip(names, reason)
            if plan.params.offline_policy == "skip"
            else FailTargets(names, reason)
        )
        actions.insert(0, verdict)
    if deadlines:
        actions.append(WaitUntil(min(deadlines), f"waiting for {len(deadlines)} offline target(s)"))
    return actions


def _work_on(
    wave: Wave,
    plan: Plan,
    progress: DeploymentProgress,
    now: datetime,
    deadlines: list[datetime],
    expired: list[str],
) -> list[str]:
    """The targets of a begun ``wave`` to dispatch now; offline ones go to the other lists."""
    dispatch = []
    for name in wave.targets:
        state = progress.state_of(name)
        since = progress.offline_since.get(name)
        if since is not None and state in NOT_STARTED | {_S.DISPATCHED}:
            deadline = since + plan.params.offline_timeout
            if now >= deadline:
                expired.append(name)
            else:
                deadlines.append(deadline)
        elif state in NOT_STARTED:
            dispatch.append(name)
    return dispatch


def _gate(
    wave: Wave, plan: Plan, progress: DeploymentProgress, now: datetime
) -> list[Action] | None:
    """What keeps ``wave`` from beginning (None: nothing; every earlier wave has finished)."""
    earlier = [other.index for other in plan.waves if other.index < wave.index]
    if not earlier:
        return None
    params = plan.params
    if params.bake:
        if any(index not in progress.wave_finished for index in earlier):
            return []  # the WaveFinished action of this very answer records the moment
        baked_at = max(progress.wave_finished[index] for index in earlier) + params.bake
        if now < baked_at:
            return [WaitUntil(baked_at, f"wave {earlier[-1]} is baking before wave {wave.index}")]
    if params.confirm_waves and wave.index not in progress.confirmed:
        return [WaitForConfirmation(wave.index)]
    return None
