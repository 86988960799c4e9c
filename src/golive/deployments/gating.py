"""Change control's gates, as the deployment engine and service use them.

At planning (``clear``): an environment whose policy requires a change admits a
deployment only under an authorised change that covers it, or inside a standard
change model (which raises and authorises a standard change for it).

Before each new wave (``hold_new_waves``): the wave gate (``golive.changes.gate``) must
be open. A closed gate holds the wave: the deployment waits for the window
(``waiting_for_window``), or, when the gate closed after work had begun and the
environment's policy says ``on_window_close: pause`` (the default), it pauses after
the wave under way and the deviation is audited. Nothing is failed or skipped.

At the end (``finished``): the change is marked implemented with the outcome.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from golive import audit
from golive.auth.service import Actor
from golive.changes import calendar
from golive.changes import service as changes
from golive.changes.gate import WaveGate, wave_gate
from golive.changes.models import ChangeRequest
from golive.changes.rules import Work
from golive.deployments.models import Deployment, DeploymentState
from golive.deployments.strategies import Action, Dispatch, WaitUntil
from golive.errors import InvalidInputError, NotFoundError
from golive.inventory.models import Environment, Target

log = logging.getLogger("golive.engine")
_D = DeploymentState


def clear(
    session: Session,
    actor: Actor,
    environment: Environment,
    change_ref: str | None,
    components: frozenset[str],
    targets: dict[str, dict[str, str]],
    strategy: str,
) -> str | None:
    """The change the deployment runs under (its reference), or None when none is needed.

    Raises:
        PolicyError: the environment needs an authorised change that covers the work.
    """
    work = Work(environment.name, components, targets, strategy)
    clearance = changes.clear_deployment(session, actor, environment, change_ref, work)
    return clearance.change.ref if clearance.change is not None else change_ref


def _change_of(session: Session, deployment: Deployment) -> ChangeRequest | None:
    if not deployment.change_ref:
        return None
    try:
        return changes.get_change(session, deployment.change_ref)
    except (NotFoundError, InvalidInputError):
        return None  # an external reference recorded before change control existed


def _labels(session: Session, names: set[str]) -> list[dict[str, str]]:
    rows = session.execute(select(Target.labels).where(Target.name.in_(sorted(names))))
    unique = {tuple(sorted(row.labels.items())): dict(row.labels) for row in rows}
    return list(unique.values()) or [{}]


def gate_for(
    session: Session, deployment: Deployment, targets: set[str], now: datetime
) -> WaveGate:
    return wave_gate(
        calendar.all_windows(session),
        _change_of(session, deployment),
        at=now,
        environment=deployment.environment.name,
        policy=deployment.environment.policy,
        label_sets=_labels(session, targets),
        components=frozenset(item.component.name for item in deployment.versions),
    )


def deviation(
    session: Session, actor: Actor, deployment: Deployment, kind: str, reason: str, **facts: object
) -> None:
    """Audit work that does not go as change control planned."""
    audit.record(
        session,
        actor=actor.name,
        action="deployment.deviation",
        subject_type="deployment",
        subject_id=f"deployment {deployment.id}",
        after={"kind": kind, "change": deployment.change_ref, **facts},
        reason=reason,
    )


def hold_new_waves(
    session: Session,
    actor: Actor,
    deployment: Deployment,
    actions: list[Action],
    now: datetime,
    *,
    record: bool = True,
) -> tuple[list[Action], DeploymentState | None, str | None]:
    """Take out the dispatches of waves that may not start now.

    ``record=False`` looks without auditing anything (the engine's first look at a
    planned deployment; the wave is dispatched, and audited, in the same step).

    Returns:
        The actions to carry out, the state the deployment should be in because of the
        gate (None: leave it), and why.
    """
    starting = [
        a
        for a in actions
        if isinstance(a, Dispatch) and str(a.wave_index) not in deployment.wave_started
    ]
    if not starting:
        return actions, None, None
    names = {name for action in starting for name in action.targets}
    gate = gate_for(session, deployment, names, now)
    if gate.is_open:
        if record and gate.overridden and not deployment.wave_started:
            deviation(
                session,
                actor,
                deployment,
                "freeze_override",
                f"started inside {', '.join(gate.overridden)} under emergency change "
                f"{deployment.change_ref}",
                windows=list(gate.overridden),
            )
        back = _D.RUNNING if deployment.state == _D.WAITING_FOR_WINDOW.value else None
        return actions, back, None
    kept: list[Action] = [a for a in actions if a not in starting]
    opens = gate.opens_at.isoformat() if gate.opens_at is not None else "no time in sight"
    reason = f"waiting for a window: {gate.reason}; it opens {opens}"
    if gate.opens_at is not None:
        kept.append(WaitUntil(gate.opens_at, reason))
    begun = bool(deployment.wave_started)
    policy = deployment.environment.policy.get("on_window_close", "pause")
    if record and begun and deployment.state == _D.RUNNING.value:
        waves = ", ".join(str(a.wave_index) for a in starting)
        deviation(
            session,
            actor,
            deployment,
            "window_closed",
            f"the window closed before wave {waves} could start: {gate.reason}",
            waves=[a.wave_index for a in starting],
            opens_at=gate.opens_at.isoformat() if gate.opens_at else None,
        )
        if policy == "pause":
            reason = (
                f"paused: the window closed after wave {max(map(int, deployment.wave_started))}"
                f" ({gate.reason}); resume when it opens again ({opens})"
            )
            return kept, _D.PAUSED, reason
    return kept, _D.WAITING_FOR_WINDOW, reason


def finished(session: Session, actor: Actor, deployment: Deployment) -> None:
    """The deployment reached its outcome: its change is implemented with it."""
    change = _change_of(session, deployment)
    if change is None:
        return
    if deployment.state == _D.ABORTED.value and not deployment.wave_started:
        return  # nothing was done: the change stays authorised for another attempt
    changes.finish_for_deployment(
        session, actor, change, deployment.state, f"deployment {deployment.id} {deployment.state}"
    )
