"""Deployment rules over the records: create, plan, pause, resume, abort, confirm, retry,
roll back, and the configuration-record questions (history of a target, where a component is).

Every function that changes a record writes its audit event in the caller's transaction.
The strategies (strategies/) decide what happens next; the engine (engine.py) carries it
out. ``progress_of`` turns the records into the strategies' snapshot for both.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.agents.models import AgentState, Assignment, Installed, InstallRecord
from golive.agents.rules import ACTIVE as ACTIVE_ASSIGNMENT
from golive.agents.rules import AssignmentAction, AssignmentState
from golive.agents.service import DEFAULT_HOOK_TIMEOUT_SECONDS, install_history
from golive.auth.service import Actor
from golive.db import utcnow
from golive.deployments import gating, strategies
from golive.deployments.models import (
    ACTIVE,
    Deployment,
    DeploymentEvent,
    DeploymentState,
    DeploymentVersion,
)
from golive.deployments.strategies import (
    DeploymentProgress,
    Plan,
    StrategyParams,
    TargetRef,
    Wave,
)
from golive.errors import ConflictError, InvalidInputError, NotFoundError
from golive.inventory.models import ConnectionKind, Environment, Target
from golive.inventory.service import get_component, get_environment
from golive.media.models import Version
from golive.media.service import IN_USE_RULES, get_version, require_deployable

_S = AssignmentState
_D = DeploymentState
# What ``golive deploy --plan`` assumes one target takes (download, install, verify).
PER_TARGET_SECONDS = 60.0
_RUNNING = (_S.DISPATCHED, _S.DOWNLOADING, _S.INSTALLING, _S.VERIFYING)
_FAILURES = frozenset({_S.FAILED, _S.ROLLED_BACK})
_WAITING = frozenset({None, _S.PENDING, _S.DISPATCHED})
_SHOWN = 5


def parse_ref(text: str) -> tuple[str, str]:
    """``"shop@1.2.0"`` as ``("shop", "1.2.0")``."""
    component, sep, version = text.strip().partition("@")
    if not sep or not component or not version:
        raise InvalidInputError(
            f"a version is named COMPONENT@VERSION, like shop@1.2.0; got {text!r}",
            details={"version": text},
        )
    return component, version


def _names(names: Sequence[str]) -> str:
    shown = ", ".join(names[:_SHOWN])
    more = len(names) - _SHOWN
    return f"{shown} and {more} more" if more > 0 else shown


# --- preparing a deployment ------------------------------------------------------


@dataclass(frozen=True)
class Prepared:
    """What a deployment would be: checked versions, selected targets and their plan."""

    environment: Environment
    versions: list[Version]
    targets: list[Target]
    plan: Plan


def _versions(
    session: Session, refs: Sequence[tuple[str, str]], environment: Environment, action: str
) -> list[Version]:
    if not refs:
        raise InvalidInputError("a deployment needs at least one COMPONENT@VERSION")
    versions: list[Version] = []
    seen: set[str] = set()
    for component, number in refs:
        if component in seen:
            raise InvalidInputError(
                f"component {component} appears twice; a deployment moves one version of each",
                details={"component": component},
            )
        seen.add(component)
        version = get_version(session, component, number)
        if action == AssignmentAction.INSTALL.value:
            require_deployable(session, version, environment)
        versions.append(version)
    return versions


def _select_targets(
    session: Session, environment: Environment, names: Sequence[str], labels: Mapping[str, str]
) -> list[Target]:
    found = list(
        session.scalars(
            select(Target)
            .options(selectinload(Target.environment))
            .where(Target.environment_id == environment.id)
            .order_by(Target.name)
        )
    )
    if names:
        by_name = {target.name: target for target in found}
        missing = sorted(set(names) - set(by_name))
        if missing:
            raise InvalidInputError(
                f"not targets of environment {environment.name}: {_names(missing)}",
                details={"targets": missing, "environment": environment.name},
            )
        found = [by_name[name] for name in sorted(set(names))]
    if labels:
        found = [t for t in found if all(t.labels.get(k) == v for k, v in labels.items())]
    if not found:
        raise InvalidInputError(
            f"no target of environment {environment.name} matches the selection",
            details={"environment": environment.name, "names": list(names), "labels": labels},
        )
    return found


def _is_online(state: AgentState | None, target: Target) -> bool:
    # An agent whose credential was revoked cannot take work: it is offline until it is
    # enrolled again. Other targets are assumed reachable.
    if target.connection != ConnectionKind.AGENT.value or state is None:
        return True
    return state.revoked_at is None


def _target_refs(session: Session, targets: Sequence[Target]) -> list[TargetRef]:
    states = {
        state.target_id: state
        for state in session.scalars(
            select(AgentState).where(AgentState.target_id.in_([t.id for t in targets]))
        )
    }
    return [TargetRef(t.name, dict(t.labels), _is_online(states.get(t.id), t)) for t in targets]


def _refuse_overlaps(
    session: Session, targets: Sequence[Target], versions: Sequence[Version]
) -> None:
    """A second deployment of a component to a target while one is active is refused."""
    names = {target.name for target in targets}
    components = {version.component_id for version in versions}
    active = session.scalars(
        select(Deployment)
        .options(selectinload(Deployment.versions))
        .where(Deployment.state.in_([state.value for state in ACTIVE]))
        .order_by(Deployment.id)
    )
    for other in active:
        shared = components & {item.component_id for item in other.versions}
        if not shared:
            continue
        overlap = sorted(names & {name for wave in other.waves for name in wave})
        if overlap:
            raise ConflictError(
                f"deployment {other.id} is still active for the same component on "
                f"{_names(overlap)}; wait for it to finish, or abort it first",
                details={"deployment_id": other.id, "targets": overlap},
            )
    unfinished = session.execute(
        select(Assignment.id, Assignment.deployment_id, Target.name)
        .join(Target, Target.id == Assignment.target_id)
        .where(
            Assignment.target_id.in_([t.id for t in targets]),
            Assignment.component_id.in_(components),
            Assignment.state.in_([state.value for state in ACTIVE_ASSIGNMENT]),
        )
        .order_by(Assignment.id)
        .limit(1)
    ).first()
    if unfinished is not None:
        owner = (
            f"deployment {unfinished.deployment_id}"
            if unfinished.deployment_id is not None
            else f"assignment {unfinished.id}"
        )
        raise ConflictError(
            f"target {unfinished.name} already has an unfinished assignment of the same "
            f"component ({owner}); wait for it to finish first",
            details={
                "deployment_id": unfinished.deployment_id,
                "assignment_id": unfinished.id,
                "target": unfinished.name,
            },
        )


def prepare(
    session: Session,
    *,
    refs: Sequence[tuple[str, str]],
    environment: str,
    names: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    params: StrategyParams,
    action: str = AssignmentAction.INSTALL.value,
) -> Prepared:
    """Check the versions, select the targets, refuse overlaps and plan; writes nothing.

    Raises:
        NotFoundError: an unknown environment, component or version.
        PolicyError: a version the environment may not receive (media library status).
        InvalidInputError: no target matches, or the versions or parameters are malformed.
        ConflictError: another active deployment or assignment holds a selected target's
            component (the message names it).
    """
    if action not in (AssignmentAction.INSTALL.value, AssignmentAction.REMOVE.value):
        raise InvalidInputError(f"action must be install or remove, not {action!r}")
    where = get_environment(session, environment)
    versions = _versions(session, refs, where, action)
    targets = _select_targets(session, where, names, labels or {})
    _refuse_overlaps(session, targets, versions)
    plan = strategies.plan(_target_refs(session, targets), params)
    return Prepared(environment=where, versions=versions, targets=targets, plan=plan)


def _gates(environment: Environment, params: StrategyParams, waves: int) -> list[str]:
    gates = []
    if environment.policy.get("requires_change"):
        gates.append(
            f"environment {environment.name} requires an authorised change that covers the "
            "deployment, or a standard change model that does (checked when it is created)"
        )
    gates.append(
        "each wave starts only when no freeze applies"
        + (", inside a maintenance window" if environment.policy.get("requires_window") else "")
        + " and, under a change with planned windows, inside one of them"
    )
    if environment.policy.get("approved_versions_only", True):
        gates.append(f"environment {environment.name} deploys approved versions only (checked)")
    if params.confirm_waves and waves > 1:
        gates.append(f"a deployment manager confirms each of waves 2-{waves} before it starts")
    if params.bake and waves > 1:
        gates.append(f"each wave bakes {strategies.format_duration(params.bake)} before the next")
    gates.append(f"a wave halts the deployment above {params.max_failures} failure(s)")
    if params.all_or_nothing:
        gates.append("all or nothing: any failure rolls every target back")
    elif params.rollback_on_failure:
        gates.append("a halt rolls the succeeded targets back to their last known-good version")
    return gates


def describe_plan(prepared: Prepared, params: StrategyParams) -> dict[str, Any]:
    """The plan as ``golive deploy --plan`` shows it: waves, gates and an estimate."""
    plan = prepared.plan
    took = strategies.estimate(plan, PER_TARGET_SECONDS)
    return {
        "dry_run": True,
        "environment": prepared.environment.name,
        "versions": [v.ref for v in prepared.versions],
        "strategy": params.strategy,
        "params": strategies.params_as_dict(params),
        "waves": [{"index": w.index, "targets": list(w.targets)} for w in plan.waves],
        "targets": len(plan.targets),
        "offline": sorted(plan.offline),
        "gates": _gates(prepared.environment, params, len(plan.waves)),
        "estimate_seconds": int(took.total_seconds()),
        "estimate": strategies.format_duration(took),
        "estimate_assumes": f"{int(PER_TARGET_SECONDS)}s per target; waits for people "
        "and offline targets are not counted",
    }


def dry_run_plan(
    session: Session,
    *,
    refs: Sequence[tuple[str, str]],
    environment: str,
    names: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    params: StrategyParams,
    action: str = AssignmentAction.INSTALL.value,
) -> dict[str, Any]:
    """What ``create_deployment`` would plan, with its gates and estimate; writes nothing."""
    prepared = prepare(
        session,
        refs=refs,
        environment=environment,
        names=names,
        labels=labels,
        params=params,
        action=action,
    )
    return describe_plan(prepared, params)


# --- records -----------------------------------------------------------------------


def add_event(
    session: Session, deployment: Deployment, kind: str, now: datetime, **detail: Any
) -> None:
    session.add(DeploymentEvent(deployment_id=deployment.id, at=now, kind=kind, detail=detail))


def _audit(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    verb: str,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    reason: str | None = None,
) -> None:
    audit.record(
        session,
        actor=actor.name,
        action=f"deployment.{verb}",
        subject_type="deployment",
        subject_id=str(deployment.id),
        before=before,
        after=after,
        reason=reason,
    )


def create_deployment(
    session: Session,
    actor: Actor,
    *,
    refs: Sequence[tuple[str, str]],
    environment: str,
    names: Sequence[str] = (),
    labels: Mapping[str, str] | None = None,
    params: StrategyParams,
    action: str = AssignmentAction.INSTALL.value,
    hooks: Mapping[str, str] | None = None,
    hook_timeout_seconds: int = DEFAULT_HOOK_TIMEOUT_SECONDS,
    change_ref: str | None = None,
    release_ref: str | None = None,
    planned_start: datetime | None = None,
) -> Deployment:
    """Record a planned deployment; the engine starts it (at ``planned_start`` if given).

    Raises: as ``prepare``.
    """
    prepared = prepare(
        session,
        refs=refs,
        environment=environment,
        names=names,
        labels=labels,
        params=params,
        action=action,
    )
    change_ref = gating.clear(
        session,
        actor,
        prepared.environment,
        change_ref,
        frozenset(v.component.name for v in prepared.versions),
        {target.name: dict(target.labels) for target in prepared.targets},
        params.strategy,
    )
    now = utcnow()
    first = strategies.initial_progress(prepared.plan, now)
    deployment = Deployment(
        environment=prepared.environment,
        action=action,
        selector={"names": sorted(set(names)), "labels": dict(sorted((labels or {}).items()))},
        strategy=params.strategy,
        params=strategies.params_as_dict(params),
        waves=[list(wave.targets) for wave in prepared.plan.waves],
        hooks=dict(hooks or {}),
        hook_timeout_seconds=hook_timeout_seconds,
        change_ref=change_ref,
        release_ref=release_ref,
        state=_D.PLANNED.value,
        planned_start=planned_start,
        wave_started={},
        wave_finished={},
        confirmed=[],
        offline_since={name: moment.isoformat() for name, moment in first.offline_since.items()},
        abort_requested=False,
        rollback_requested=False,
        rollback_assignments={},
        superseded=[],
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    deployment.versions = [
        DeploymentVersion(component_id=v.component_id, version=v, position=position)
        for position, v in enumerate(prepared.versions)
    ]
    session.add(deployment)
    session.flush()
    add_event(session, deployment, "created", now, by=actor.name, targets=len(prepared.targets))
    session.flush()
    _audit(session, actor, deployment, "create", after=deployment.as_dict())
    return deployment


def _loaded(session: Session, deployment_id: int, *, lock: bool) -> Deployment:
    query = (
        select(Deployment)
        .options(
            selectinload(Deployment.environment),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.version),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.component),
        )
        .where(Deployment.id == deployment_id)
    )
    if lock:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise NotFoundError(
            f"deployment {deployment_id} not found", details={"deployment_id": deployment_id}
        )
    return found


def get_deployment(session: Session, deployment_id: int) -> Deployment:
    return _loaded(session, deployment_id, lock=False)


def list_deployments(
    session: Session,
    *,
    state: DeploymentState | None = None,
    environment: str | None = None,
    limit: int,
    offset: int,
) -> list[Deployment]:
    """Deployments, newest first, by state and environment."""
    query = (
        select(Deployment)
        .options(
            selectinload(Deployment.environment),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.version),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.component),
        )
        .order_by(Deployment.id.desc())
    )
    if state is not None:
        query = query.where(Deployment.state == state.value)
    if environment is not None:
        query = query.where(Deployment.environment_id == get_environment(session, environment).id)
    return list(session.scalars(query.limit(limit).offset(offset)))


# --- progress: the strategies' view of the records ----------------------------------


def plan_of(deployment: Deployment) -> Plan:
    """The stored plan, as the strategies see it."""
    params = strategies.parse_params(**deployment.params)
    waves = tuple(
        Wave(index, tuple(names)) for index, names in enumerate(deployment.waves, start=1)
    )
    return Plan(waves=waves, params=params)


def assignments_of(session: Session, deployment: Deployment) -> list[Assignment]:
    return list(
        session.scalars(
            select(Assignment)
            .options(
                selectinload(Assignment.target),
                selectinload(Assignment.component),
                selectinload(Assignment.version),
            )
            .where(Assignment.deployment_id == deployment.id)
            .order_by(Assignment.id)
        )
    )


@dataclass(frozen=True)
class Split:
    """A deployment's assignments: the live one per (target, component), and rollbacks."""

    live: dict[tuple[str, int], Assignment]
    rollbacks: dict[str, list[Assignment]]


def split(deployment: Deployment, assignments: Iterable[Assignment]) -> Split:
    rollback_ids = {i for ids in deployment.rollback_assignments.values() for i in ids}
    superseded = set(deployment.superseded)
    by_id = {a.id: a for a in assignments}
    live: dict[tuple[str, int], Assignment] = {}
    for assignment in by_id.values():
        if assignment.id in rollback_ids or assignment.id in superseded:
            continue
        live[(assignment.target.name, assignment.component_id)] = assignment  # newest wins
    rollbacks = {
        name: [by_id[i] for i in ids if i in by_id]
        for name, ids in deployment.rollback_assignments.items()
    }
    return Split(live=live, rollbacks=rollbacks)


def combined_state(states: Sequence[AssignmentState | None]) -> AssignmentState | None:
    """One target's state over the assignments of its components.

    Not yet assigned while any component lacks an assignment; running while any runs;
    pending while any waits; otherwise failed, rolled back or skipped if any is, else
    succeeded.
    """
    if not states or any(state is None for state in states):
        return None
    known = [state for state in states if state is not None]
    for running in _RUNNING:
        if running in known:
            return running
    for verdict in (_S.PENDING, _S.FAILED, _S.ROLLED_BACK, _S.SKIPPED):
        if verdict in known:
            return verdict
    return _S.SUCCEEDED


def _moments(stored: Mapping[str, str]) -> dict[int, datetime]:
    return {int(index): datetime.fromisoformat(moment) for index, moment in stored.items()}


def offline_since(deployment: Deployment, parts: Split) -> dict[str, datetime]:
    """The deployment's targets whose agent is away, each with when that was first seen.

    Targets the plan found offline (a revoked agent) are recorded on the deployment. The
    others count from their records: an agent's check-in marks its pending assignments
    dispatched (docs/agent-protocol.md), so an agent target whose assignment is still
    pending has not checked in since it was made; its agent is not running. It is away
    from the later of its wave's start and the assignment's creation (a retry's fresh
    assignment waits afresh). SSH and manual targets have no agent to wait for.
    """
    recorded = {
        name: datetime.fromisoformat(moment) for name, moment in deployment.offline_since.items()
    }
    started = _moments(deployment.wave_started)
    wave_of = {name: index for index, wave in enumerate(deployment.waves, start=1) for name in wave}
    away: dict[str, datetime] = {}
    for (name, _component), assignment in parts.live.items():
        if (
            name in recorded
            or assignment.state != _S.PENDING.value
            or assignment.target.connection != ConnectionKind.AGENT.value
        ):
            continue
        begun = started.get(wave_of.get(name, 0))
        moment = max(assignment.created_at, begun) if begun is not None else assignment.created_at
        away[name] = min(away.get(name, moment), moment)
    return {**away, **recorded}


def progress_of(deployment: Deployment, parts: Split) -> DeploymentProgress:
    """The strategies' snapshot of ``deployment`` from its records."""
    components = [item.component_id for item in deployment.versions]
    states: dict[str, AssignmentState | None] = {}
    for wave in deployment.waves:
        for name in wave:
            found = [parts.live.get((name, component)) for component in components]
            states[name] = combined_state(
                [AssignmentState(a.state) if a is not None else None for a in found]
            )
    rollbacks = {
        name: combined_state([AssignmentState(a.state) for a in made]) if made else _S.SUCCEEDED
        for name, made in parts.rollbacks.items()
    }
    return DeploymentProgress(
        states=states,
        wave_started=_moments(deployment.wave_started),
        wave_finished=_moments(deployment.wave_finished),
        paused=deployment.state == _D.PAUSED.value,
        aborted=deployment.abort_requested,
        confirmed=frozenset(deployment.confirmed),
        offline_since=offline_since(deployment, parts),
        rollback_requested=deployment.rollback_requested,
        rollbacks={name: state for name, state in rollbacks.items() if state is not None},
    )


def snapshot(session: Session, deployment: Deployment) -> tuple[Plan, DeploymentProgress, Split]:
    parts = split(deployment, assignments_of(session, deployment))
    return plan_of(deployment), progress_of(deployment, parts), parts


# --- a person's decisions ----------------------------------------------------------


def _require_state(deployment: Deployment, allowed: Iterable[DeploymentState], verb: str) -> None:
    allowed_values = [state.value for state in allowed]
    if deployment.state not in allowed_values:
        raise ConflictError(
            f"deployment {deployment.id} is {deployment.state} and cannot be {verb}; "
            f"that needs one of: {', '.join(allowed_values)}",
            details={"deployment_id": deployment.id, "state": deployment.state},
        )


def _move(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    verb: str,
    state: DeploymentState | None = None,
    reason: str | None = None,
    **detail: Any,
) -> Deployment:
    now = utcnow()
    before = deployment.state
    if state is not None:
        deployment.state = state.value
    deployment.updated_at = now
    add_event(session, deployment, verb, now, by=actor.name, reason=reason, **detail)
    session.flush()
    _audit(
        session,
        actor,
        deployment,
        verb,
        before={"state": before},
        after={"state": deployment.state, **detail},
        reason=reason,
    )
    return deployment


def pause(
    session: Session, actor: Actor, deployment_id: int, reason: str | None = None
) -> Deployment:
    """Start nothing new; running assignments finish on their own."""
    deployment = _loaded(session, deployment_id, lock=True)
    _require_state(
        deployment,
        (_D.PLANNED, _D.RUNNING, _D.WAITING_FOR_CONFIRMATION, _D.WAITING_FOR_WINDOW),
        "paused",
    )
    if deployment.abort_requested or deployment.rollback_requested:
        raise ConflictError(
            f"deployment {deployment.id} is winding down (abort or rollback) and cannot be paused"
        )
    return _move(session, actor, deployment, "pause", _D.PAUSED, reason)


def resume(
    session: Session, actor: Actor, deployment_id: int, reason: str | None = None
) -> Deployment:
    deployment = _loaded(session, deployment_id, lock=True)
    _require_state(deployment, (_D.PAUSED,), "resumed")
    wanted = _D.RUNNING if deployment.started_at is not None else _D.PLANNED
    return _move(session, actor, deployment, "resume", wanted, reason)


def abort(
    session: Session, actor: Actor, deployment_id: int, reason: str | None = None
) -> Deployment:
    """Skip what has not started; the engine ends the deployment ``aborted`` once idle."""
    deployment = _loaded(session, deployment_id, lock=True)
    _require_state(deployment, ACTIVE, "aborted")
    if deployment.abort_requested:
        raise ConflictError(f"deployment {deployment.id} is already being aborted")
    if deployment.rollback_requested:
        raise ConflictError(
            f"deployment {deployment.id} is rolling back; a rollback once begun runs to its end"
        )
    deployment.abort_requested = True
    wanted = _D.RUNNING if deployment.state == _D.PAUSED.value else None
    return _move(session, actor, deployment, "abort", wanted, reason)


def _next_unconfirmed(deployment: Deployment) -> int | None:
    started = {int(index) for index in deployment.wave_started}
    for index in range(2, len(deployment.waves) + 1):
        if index not in started and index not in deployment.confirmed:
            return index
    return None


def confirm_wave(
    session: Session, actor: Actor, deployment_id: int, reason: str | None = None
) -> Deployment:
    """Let the next wave of a ``confirm_waves`` deployment begin."""
    deployment = _loaded(session, deployment_id, lock=True)
    _require_state(
        deployment,
        (_D.PLANNED, _D.RUNNING, _D.PAUSED, _D.WAITING_FOR_CONFIRMATION, _D.WAITING_FOR_WINDOW),
        "confirmed",
    )
    if not deployment.params.get("confirm_waves"):
        raise ConflictError(
            f"deployment {deployment.id} does not wait for confirmations (no confirm_waves)"
        )
    wave = _next_unconfirmed(deployment)
    if wave is None:
        raise ConflictError(f"deployment {deployment.id} has no wave left to confirm")
    deployment.confirmed = [*deployment.confirmed, wave]
    wanted = _D.RUNNING if deployment.state == _D.WAITING_FOR_CONFIRMATION.value else None
    return _move(session, actor, deployment, "confirm", wanted, reason, wave=wave)


def retry_failed(
    session: Session, actor: Actor, deployment_id: int, reason: str | None = None
) -> Deployment:
    """Run the failed targets again, and only them (their failed assignments are superseded)."""
    deployment = _loaded(session, deployment_id, lock=True)
    _require_state(
        deployment,
        (_D.RUNNING, _D.PAUSED, _D.WAITING_FOR_CONFIRMATION, _D.HALTED, _D.FAILED),
        "retried",
    )
    plan, progress, parts = snapshot(session, deployment)
    again = strategies.retry_failed(plan, progress)
    targets = sorted(
        name for name in plan.targets if again.state_of(name) != progress.state_of(name)
    )
    if not targets:
        raise ConflictError(f"deployment {deployment.id} has no failed target to retry")
    chosen = set(targets)
    superseded = [
        a.id
        for (name, _component), a in parts.live.items()
        if name in chosen and AssignmentState(a.state) in _FAILURES
    ]
    deployment.superseded = sorted({*deployment.superseded, *superseded})
    deployment.wave_finished = {
        str(index): moment.isoformat() for index, moment in again.wave_finished.items()
    }
    wanted = None
    if deployment.state in (_D.HALTED.value, _D.FAILED.value):
        wanted = _D.RUNNING
        deployment.finished_at = None
        deployment.reason = None
    return _move(session, actor, deployment, "retry", wanted, reason, targets=targets)


def request_rollback(
    session: Session, actor: Actor, deployment_id: int, reason: str | None = None
) -> Deployment:
    """Put every succeeded target back on its last known-good version (the engine does it)."""
    deployment = _loaded(session, deployment_id, lock=True)
    allowed = [state for state in DeploymentState if state not in (_D.ROLLED_BACK, _D.ABORTED)]
    _require_state(deployment, allowed, "rolled back")
    if deployment.rollback_requested:
        raise ConflictError(f"deployment {deployment.id} is already rolling back")
    deployment.rollback_requested = True
    deployment.finished_at = None
    return _move(session, actor, deployment, "rollback", _D.RUNNING, reason)


# --- what the show command says ----------------------------------------------------


def describe(session: Session, deployment: Deployment) -> dict[str, Any]:
    """The deployment with its waves, per-target states and reasons, counts and events."""
    plan, progress, parts = snapshot(session, deployment)
    started = _moments(deployment.wave_started)
    finished = _moments(deployment.wave_finished)
    counts: Counter[str] = Counter()
    failures: list[dict[str, Any]] = []
    waves = []
    for wave in plan.waves:
        rows = []
        for name in wave.targets:
            state = progress.state_of(name)
            label = state.value if state is not None else "not_started"
            counts[label] += 1
            mine = [a for (target, _c), a in parts.live.items() if target == name]
            reasons = [a.reason for a in mine if a.reason]
            rollback = progress.rollbacks.get(name)
            away = progress.offline_since.get(name) if state in _WAITING else None
            row = {
                "target": name,
                "state": label,
                "reason": "; ".join(reasons) or None,
                "assignments": [
                    {
                        "id": a.id,
                        "component": a.component.name,
                        "version": a.version.version,
                        "action": a.action,
                        "state": a.state,
                        "reason": a.reason,
                    }
                    for a in mine
                ],
                "rollback": rollback.value if rollback is not None else None,
                # Its agent is away: the deployment waits for it until the offline timeout.
                "offline_since": away.isoformat() if away is not None else None,
            }
            if state in _FAILURES:
                failures.append({"target": name, "wave": wave.index, "reason": row["reason"]})
            rows.append(row)
        waves.append(
            {
                "index": wave.index,
                "targets": rows,
                "started_at": started[wave.index].isoformat() if wave.index in started else None,
                "finished_at": (
                    finished[wave.index].isoformat() if wave.index in finished else None
                ),
                "confirmed": wave.index in deployment.confirmed,
            }
        )
    events = session.scalars(
        select(DeploymentEvent)
        .where(DeploymentEvent.deployment_id == deployment.id)
        .order_by(DeploymentEvent.id)
    )
    shown = deployment.as_dict()
    shown["waves"] = waves
    shown["counts"] = dict(sorted(counts.items()))
    shown["failures"] = failures
    shown["events"] = [event.as_dict() for event in events]
    return shown


# --- configuration records -----------------------------------------------------------


def target_history(
    session: Session, target: str, *, limit: int = 100, offset: int = 0
) -> list[dict[str, Any]]:
    """What was deployed on ``target``, when, by whom, under which change; newest first."""
    records = install_history(session, target, limit=limit, offset=offset)
    ids = {r.deployment_id for r in records if r.deployment_id is not None}
    deployments = {
        d.id: d for d in session.scalars(select(Deployment).where(Deployment.id.in_(ids)))
    }
    items = []
    for record in records:
        shown = record.as_dict()
        owner = deployments.get(record.deployment_id) if record.deployment_id else None
        shown["change_ref"] = owner.change_ref if owner is not None else None
        shown["deployed_by"] = owner.created_by if owner is not None else record.actor
        items.append(shown)
    return items


def where_installed(session: Session, component: str) -> dict[str, Any]:
    """Which version of ``component`` is on which target, per environment."""
    found = get_component(session, component)
    rows = session.execute(
        select(Installed, Target.name, Environment.name, Environment.position)
        .join(Target, Target.id == Installed.target_id)
        .join(Environment, Environment.id == Target.environment_id)
        .options(selectinload(Installed.version))
        .where(Installed.component_id == found.id)
        .order_by(Environment.position, Environment.name, Target.name)
    ).all()
    environments: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for installed, target_name, environment_name, _position in rows:
        environments[environment_name].append(
            {
                "target": target_name,
                "version": installed.version.version,
                "installed_at": installed.installed_at.isoformat(),
                "deployment_id": installed.deployment_id,
            }
        )
    return {
        "component": found.name,
        "environments": [
            {
                "environment": name,
                "versions": dict(sorted(Counter(t["version"] for t in targets).items())),
                "targets": targets,
            }
            for name, targets in environments.items()
        ],
    }


# --- rules other rooms consult -------------------------------------------------------


def _needed_by_active_deployment(session: Session, version: Version) -> str | None:
    ids = session.scalars(
        select(Deployment.id)
        .join(DeploymentVersion, DeploymentVersion.deployment_id == Deployment.id)
        .where(
            DeploymentVersion.version_id == version.id,
            Deployment.state.in_([state.value for state in ACTIVE]),
        )
        .order_by(Deployment.id)
    ).all()
    if not ids:
        return None
    return f"needed by active deployment(s) {', '.join(str(i) for i in ids)}"


def last_known_good(
    session: Session, deployment_id: int, target_id: int, component_id: int
) -> InstallRecord | None:
    """The target's last successful install of the component outside ``deployment_id``,
    or None when the component was absent before (or its last record is a removal)."""
    record = session.scalars(
        select(InstallRecord)
        .options(selectinload(InstallRecord.version))
        .where(
            InstallRecord.target_id == target_id,
            InstallRecord.component_id == component_id,
            InstallRecord.outcome == _S.SUCCEEDED.value,
            (InstallRecord.deployment_id.is_(None))
            | (InstallRecord.deployment_id != deployment_id),
        )
        .order_by(InstallRecord.id.desc())
        .limit(1)
    ).first()
    if record is None or record.action == AssignmentAction.REMOVE.value:
        return None
    return record


IN_USE_RULES.append(_needed_by_active_deployment)
