"""The deployment engine: a durable state machine in the records (DESIGN.md, "Shape").

``tick`` looks at every active deployment once. For each it claims the deployment's row
(``SELECT … FOR UPDATE SKIP LOCKED`` on PostgreSQL, so two engine processes never act on
the same deployment at once; SQLite serialises writers anyway), builds the strategies'
snapshot from the records, asks ``strategies.next_actions`` what to do, and carries the
actions out in that one write transaction. Every action is idempotent: an assignment is
created only where the records hold none for the (deployment, target, component), so a
crash between ticks loses nothing and repeats nothing.

The engine runs inside the server (``keep_deploying``) or in ``golive worker`` processes
(cli/worker.py), which name themselves as the actor of what they record.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import cast

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.agents.models import Assignment
from golive.agents.rules import ACTIVE as _ACTIVE_ASSIGNMENT
from golive.agents.rules import AssignmentAction, AssignmentState
from golive.agents.service import create_assignment, create_assignments, move_assignment
from golive.auth.roles import Role
from golive.auth.service import Actor
from golive.db import Database, UTCDateTime, utcnow
from golive.deployments import gating, service, strategies
from golive.deployments.models import ACTIVE, Deployment, DeploymentState, DeploymentVersion
from golive.deployments.strategies import (
    Action,
    Complete,
    DeploymentProgress,
    Dispatch,
    FailTargets,
    Halt,
    Plan,
    RollBack,
    Skip,
    WaitForConfirmation,
    WaitUntil,
    WaveFinished,
)
from golive.errors import GoliveError
from golive.inventory.models import Target
from golive.media.models import Version

log = logging.getLogger("golive.engine")
ENGINE = Actor("engine:deployments", frozenset({Role.AGENT}))
_D = DeploymentState
_S = AssignmentState
_CANCELLABLE = (_S.PENDING, _S.DISPATCHED)
# Steps per deployment per tick: a wave that finishes lets the next one start at once.
_STEPS = 8


def tick(
    db: Database,
    now: datetime | None = None,
    *,
    actor: Actor = ENGINE,
    stopping: Callable[[], bool] | None = None,
) -> int:
    """Move every active deployment on as far as its records allow at ``now``.

    Args:
        actor: whom the records name for the engine's changes (a worker names itself).
        stopping: asked between deployments; when it answers True the tick ends there.

    Returns:
        How many deployments changed.
    """
    moment = now if now is not None else utcnow()
    with db.reading() as session:
        ids = session.scalars(
            select(Deployment.id)
            .where(
                Deployment.state.in_([state.value for state in ACTIVE]),
                (Deployment.planned_start.is_(None)) | (Deployment.planned_start <= moment),
            )
            .order_by(Deployment.id)
        ).all()
    changed = 0
    for deployment_id in ids:
        if stopping is not None and stopping():
            break
        try:
            with db.reading() as session:
                if _is_quiet(session, deployment_id, moment):
                    continue
            with db.writing() as session:
                if step(session, deployment_id, moment, actor=actor):
                    changed += 1
        except Exception:
            log.exception("deployment %s: the engine step failed; trying again", deployment_id)
    return changed


def _is_quiet(session: Session, deployment_id: int, now: datetime) -> bool:
    """Whether ``step`` would write nothing now, found without the write lock.

    A running deployment spends most of its life waiting for its agents: its waves have
    begun and every target of them has its assignment. Looking at its records in a read
    transaction first keeps the database's one write lock (SQLite) free for the agents'
    reports then; anything else (a wave to finish or start, a target to dispatch, skip or
    fail, a halt, a wait that moved, a person's request) takes the step as before.
    """
    deployment = session.scalars(
        select(Deployment)
        .options(
            selectinload(Deployment.environment),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.version),
        )
        .where(Deployment.id == deployment_id)
    ).one_or_none()
    if deployment is None or deployment.state != _D.RUNNING.value:
        return deployment is None
    if deployment.abort_requested or deployment.rollback_requested:
        return False
    plan, progress, parts = _snapshot(session, deployment)
    actions = strategies.next_actions(plan, progress, now)
    if _earliest_wait(actions) != deployment.waiting_until:
        return False  # _apply would record the new wait
    components = [item.component_id for item in deployment.versions]
    for action in actions:
        if isinstance(action, WaitUntil):
            continue
        if (
            isinstance(action, Dispatch)
            and str(action.wave_index) in deployment.wave_started
            and all((name, c) in parts.live for name in action.targets for c in components)
        ):
            continue  # _dispatch finds nothing missing; agents pick their assignments up
        return False
    return True


@dataclass(frozen=True, slots=True)
class _SeenTarget:
    name: str
    connection: str


@dataclass(frozen=True, slots=True)
class _Seen:
    """The columns of an assignment the strategies' snapshot reads (service.split,
    progress_of, offline_since), without an ORM object per row."""

    id: int
    component_id: int
    state: str
    created_at: datetime
    target: _SeenTarget


_GLANCE = (
    select(
        Assignment.id,
        Assignment.component_id,
        Assignment.state,
        Assignment.created_at,
        Target.name,
        Target.connection,
    )
    .join(Target, Target.id == Assignment.target_id)
    .where(Assignment.deployment_id == bindparam("deployment_id"))
    .order_by(Assignment.id)
)


def _glance(session: Session, deployment_id: int) -> list[Assignment]:
    """A deployment's assignments as ``service.snapshot`` sees them, read for the quiet
    check at a tenth of the cost of ORM objects (10,000 of them every tick otherwise)."""
    rows = session.execute(_GLANCE, {"deployment_id": deployment_id})
    seen = [
        _Seen(row.id, row.component_id, row.state, row.created_at, _SeenTarget(*row[4:]))
        for row in rows
    ]
    # Duck-typed: split and progress_of read only the attributes above.
    return cast(list[Assignment], seen)


def _snapshot(
    session: Session, deployment: Deployment
) -> tuple[Plan, DeploymentProgress, service.Split]:
    """``service.snapshot`` from the light rows of ``_glance``: a step that changes a
    handful of targets does not load 10,000 ORM objects (with their targets) to find
    them. ``_close`` loads the ORM object of an assignment it moves."""
    parts = service.split(deployment, _glance(session, deployment.id))
    return service.plan_of(deployment), service.progress_of(deployment, parts), parts


def _loaded(session: Session, found: Assignment) -> Assignment:
    """The ORM object behind a ``_glance`` row (``found`` itself when it is one)."""
    if isinstance(found, Assignment):
        return found
    loaded = session.get(Assignment, found.id)
    if loaded is None:
        raise RuntimeError(f"assignment {found.id} vanished inside the step's transaction")
    return loaded


def _claim(session: Session, deployment_id: int) -> Deployment | None:
    return session.scalars(
        select(Deployment)
        .options(
            selectinload(Deployment.environment),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.version),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.component),
        )
        .where(
            Deployment.id == deployment_id,
            Deployment.state.in_([state.value for state in ACTIVE]),
        )
        .with_for_update(skip_locked=True)
    ).one_or_none()


def step(session: Session, deployment_id: int, now: datetime, *, actor: Actor = ENGINE) -> bool:
    """One deployment's step in the caller's transaction; True when anything was written."""
    deployment = _claim(session, deployment_id)
    if deployment is None:
        return False  # another engine holds it, or it has just finished
    changed = False
    if deployment.state == _D.PLANNED.value:
        plan, progress, parts = _snapshot(session, deployment)
        actions = strategies.next_actions(plan, progress, now)
        held, gated, why = gating.hold_new_waves(
            session, actor, deployment, actions, now, record=False
        )
        if gated is _D.WAITING_FOR_WINDOW:
            deployment.waiting_until = _earliest_wait(held)
            deployment.updated_at = now
            _set_state(session, actor, deployment, gated, now, why)
            return True
        _set_state(session, actor, deployment, _D.RUNNING, now)
        deployment.started_at = now
        changed = True
    for _ in range(_STEPS):
        plan, progress, parts = _snapshot(session, deployment)
        actions = strategies.next_actions(plan, progress, now)
        actions, gated, why = gating.hold_new_waves(session, actor, deployment, actions, now)
        if gated is not None and _set_state(session, actor, deployment, gated, now, why):
            changed = True
            if gated is _D.RUNNING and deployment.started_at is None:
                deployment.started_at = now  # the first wave starts only now
        acted = _apply(session, actor, deployment, actions, parts, now)
        changed = changed or acted
        if not acted or deployment.is_final:
            break
        session.flush()
    if changed:
        deployment.updated_at = now
    return changed


def _earliest_wait(actions: list[Action]) -> datetime | None:
    waits = [a.moment for a in actions if isinstance(a, WaitUntil)]
    return min(waits) if waits else None


def _set_state(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    state: DeploymentState,
    now: datetime,
    reason: str | None = None,
) -> bool:
    if deployment.state == state.value:
        return False
    before = deployment.state
    deployment.state = state.value
    if reason is not None:
        deployment.reason = reason
    service.add_event(session, deployment, state.value, now, reason=reason)
    session.flush()
    log.info("deployment %s: %s -> %s", deployment.id, before, state.value)
    audit.record(
        session,
        actor=actor.name,
        action=f"deployment.{state.value}",
        subject_type="deployment",
        subject_id=str(deployment.id),
        before={"state": before},
        after={"state": state.value},
        reason=reason,
    )
    return True


def _apply(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    actions: list[Action],
    parts: service.Split,
    now: datetime,
) -> bool:
    changed = False
    waits = [a.moment for a in actions if isinstance(a, WaitUntil)]
    waiting_until = min(waits) if waits else None
    if deployment.waiting_until != waiting_until:
        deployment.waiting_until = waiting_until
    halted = next((a for a in actions if isinstance(a, Halt)), None)
    for action in actions:
        if isinstance(action, WaveFinished):
            key = str(action.wave_index)
            if key not in deployment.wave_finished:
                deployment.wave_finished = {**deployment.wave_finished, key: now.isoformat()}
                service.add_event(session, deployment, "wave_finished", now, wave=key)
                changed = True
        elif isinstance(action, Dispatch):
            changed = _dispatch(session, actor, deployment, action, parts, now) or changed
        elif isinstance(action, Skip | FailTargets):
            changed = _close(session, actor, deployment, action, parts, now) or changed
        elif isinstance(action, RollBack):
            changed = _roll_back(session, actor, deployment, action, now) or changed
        elif isinstance(action, Complete):
            changed = _set_state(session, actor, deployment, _D(action.outcome), now) or changed
            deployment.finished_at = now
            deployment.waiting_until = None
            gating.finished(session, actor, deployment)
            return True
    if halted is not None:
        changed = _set_state(session, actor, deployment, _D.HALTED, now, halted.reason) or changed
    elif any(isinstance(a, WaitForConfirmation) for a in actions):
        if deployment.state == _D.RUNNING.value:
            waiting = _D.WAITING_FOR_CONFIRMATION
            changed = _set_state(session, actor, deployment, waiting, now) or changed
    elif deployment.state in (_D.HALTED.value, _D.WAITING_FOR_CONFIRMATION.value):
        changed = _set_state(session, actor, deployment, _D.RUNNING, now) or changed
    return changed


def _targets(session: Session, names: tuple[str, ...]) -> dict[str, Target]:
    found = session.scalars(
        select(Target).options(selectinload(Target.environment)).where(Target.name.in_(names))
    )
    return {target.name: target for target in found}


def _create(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    target: Target,
    version: Version,
    action: str,
    reason: str,
    now: datetime,
) -> Assignment | None:
    """Create one assignment in a savepoint; a refusal is recorded as an event."""
    try:
        with session.begin_nested():
            return create_assignment(
                session,
                actor,
                target=target,
                version=version,
                action=action,
                hooks=dict(deployment.hooks),
                hook_timeout_seconds=deployment.hook_timeout_seconds,
                deployment_id=deployment.id,
                reason=reason,
            )
    except GoliveError as refused:
        service.add_event(
            session, deployment, "refused", now, target=target.name, reason=refused.message
        )
        return None


def _dispatch(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    action: Dispatch,
    parts: service.Split,
    now: datetime,
) -> bool:
    began = time.perf_counter()
    key = str(action.wave_index)
    changed = False
    if key not in deployment.wave_started:
        deployment.wave_started = {**deployment.wave_started, key: now.isoformat()}
        service.add_event(
            session, deployment, "wave_started", now, wave=key, targets=len(action.targets)
        )
        changed = True
    missing = [
        (name, item)
        for name in action.targets
        for item in deployment.versions
        if (name, item.component_id) not in parts.live
    ]
    if not missing:
        return changed
    targets = _targets(session, tuple(sorted({name for name, _ in missing})))
    reason = f"deployment {deployment.id}, wave {action.wave_index}"
    created = 0
    # One batch per component: a wave of thousands of targets costs a few statements per
    # step instead of a few per target, while the write lock is held (agents wait on it).
    for item in deployment.versions:
        names = [name for name, wanted in missing if wanted is item]
        if not names:
            continue
        made = create_assignments(
            session,
            actor,
            targets=[targets[name] for name in names],
            version=item.version,
            action=deployment.action,
            hooks=dict(deployment.hooks),
            hook_timeout_seconds=deployment.hook_timeout_seconds,
            deployment_id=deployment.id,
            reason=reason,
        )
        for name, result in zip(names, made, strict=True):
            if isinstance(result, GoliveError):
                service.add_event(
                    session, deployment, "refused", now, target=name, reason=result.message
                )
            else:
                # What _glance would read of the new row, for the rest of this step.
                target = targets[name]
                seen = _Seen(
                    result,
                    item.component_id,
                    _S.PENDING.value,
                    now,
                    _SeenTarget(target.name, target.connection),
                )
                parts.live[(name, item.component_id)] = cast(Assignment, seen)
                created += 1
    if created:
        log.info(
            "deployment %s: wave %s: %d assignment(s) created in %.2f s",
            deployment.id,
            action.wave_index,
            created,
            time.perf_counter() - began,
        )
    return changed or created > 0


def _close(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    action: Skip | FailTargets,
    parts: service.Split,
    now: datetime,
) -> bool:
    wanted = _S.SKIPPED if isinstance(action, Skip) else _S.FAILED
    targets = _targets(session, action.targets)
    changed = False
    for name in action.targets:
        for item in deployment.versions:
            found = parts.live.get((name, item.component_id))
            if found is None:
                found = _create(
                    session,
                    actor,
                    deployment,
                    targets[name],
                    item.version,
                    deployment.action,
                    action.reason,
                    now,
                )
                if found is None:
                    continue
                parts.live[(name, item.component_id)] = found
            found = _loaded(session, found)
            if AssignmentState(found.state) in _CANCELLABLE or (
                wanted is _S.FAILED and not found.is_terminal
            ):
                changed = (
                    move_assignment(session, actor, found, wanted, reason=action.reason) or changed
                )
    return changed


def _roll_back(
    session: Session, actor: Actor, deployment: Deployment, action: RollBack, now: datetime
) -> bool:
    targets = _targets(session, action.targets)
    made: dict[str, list[int]] = {}
    for name in action.targets:
        if name in deployment.rollback_assignments:
            continue
        target = targets[name]
        ids: list[int] = []
        for item in deployment.versions:
            good = service.last_known_good(session, deployment.id, target.id, item.component_id)
            reason = f"rollback of deployment {deployment.id}: {action.reason}"
            if good is not None:
                install = AssignmentAction.INSTALL.value
                created = _create(
                    session, actor, deployment, target, good.version, install, reason, now
                )
            elif deployment.action == AssignmentAction.INSTALL.value:
                remove = AssignmentAction.REMOVE.value
                created = _create(
                    session, actor, deployment, target, item.version, remove, reason, now
                )
            else:
                continue  # a removal with nothing installed before: nothing to put back
            if created is not None:
                ids.append(created.id)
        made[name] = ids
    if not made:
        return False
    deployment.rollback_assignments = {**deployment.rollback_assignments, **made}
    service.add_event(
        session, deployment, "rollback", now, targets=sorted(made), reason=action.reason
    )
    return True


async def keep_deploying(
    db: Database, interval_seconds: float, stop: asyncio.Event, *, actor: Actor = ENGINE
) -> None:
    """Tick until ``stop`` is set; a failing tick is logged, never fatal.

    Between ticks it waits ``interval_seconds``, but looks every tenth of a second
    whether a deployment was created or a running one's assignments have all finished
    (its wave is over), and then ticks at once: a deployment starts, and its next wave
    begins, without waiting out the interval.

    When ``stop`` is set, the deployment step under way finishes (its transaction
    commits or rolls back as a whole) and no other starts.
    """
    handled: set[tuple[int, int]] = set()
    while not stop.is_set():
        try:
            # Read before the tick: what the tick sees it handles; a wave that ends
            # during the tick is not in it, so the wait below ends at once.
            handled = await asyncio.to_thread(_work_due, db)
            changed = await asyncio.to_thread(tick, db, actor=actor, stopping=stop.is_set)
        except Exception:
            log.exception("deployment engine tick failed; trying again")
            changed = 0
        if changed:
            continue
        deadline = asyncio.get_running_loop().time() + interval_seconds
        while not stop.is_set():
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=min(_LOOK_SECONDS, left))
            try:
                if await asyncio.to_thread(_work_due, db) - handled:
                    break  # a wave is over since the last tick: tick now
            except Exception:
                log.exception("looking for finished waves failed; ticking at the interval")
                await asyncio.sleep(left)


_LOOK_SECONDS = 0.1
_RUNNING = (
    select(Deployment.id)
    .where(Deployment.state == _D.RUNNING.value)
    .where(~Deployment.abort_requested)
)
_PLANNED = select(Deployment.id).where(
    Deployment.state == _D.PLANNED.value,
    Deployment.planned_start.is_(None)
    | (Deployment.planned_start <= bindparam("now", type_=UTCDateTime())),
)
_UNFINISHED = select(
    func.count(Assignment.id),
    func.count(Assignment.id).filter(
        Assignment.state.in_(sorted(state.value for state in _ACTIVE_ASSIGNMENT))
    ),
).where(Assignment.deployment_id == bindparam("deployment_id"))


def _work_due(db: Database) -> set[tuple[int, int]]:
    """Deployments the engine may have work for: (id, -1) for a planned one due to start,
    (id, its assignment count) for a running one whose assignments have all finished
    (its wave is over, or it waits: bake, confirmation, a window; the count tells one
    finished wave from the next)."""
    with db.reading() as session:
        over = {(i, -1) for i in session.scalars(_PLANNED, {"now": utcnow()})}
        for deployment_id in session.scalars(_RUNNING):
            total, unfinished = session.execute(_UNFINISHED, {"deployment_id": deployment_id}).one()
            if total and not unfinished:
                over.add((deployment_id, int(total)))
    return over
