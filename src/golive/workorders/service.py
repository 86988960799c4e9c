"""Work order rules: open one for a manual target, complete it with evidence, or fail it.

A completed work order moves its assignment to succeeded through the same path an
agent's reports take (so the target's configuration record and history follow),
and, for hardware, moves the reserved item to deployed at the target.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.agents.models import Assignment
from golive.agents.rules import AssignmentState
from golive.agents.service import create_assignment, move_assignment
from golive.auth.roles import Role
from golive.auth.service import Actor
from golive.db import utcnow
from golive.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from golive.hardware.service import deploy_item, get_item
from golive.inventory.models import ConnectionKind
from golive.inventory.service import get_target
from golive.media.service import get_version
from golive.workorders.models import WorkOrder, WorkOrderState

# On completion the assignment walks the agent's path to succeeded, one recorded step each.
_COMPLETION_PATH = (
    AssignmentState.DOWNLOADING,
    AssignmentState.INSTALLING,
    AssignmentState.VERIFYING,
    AssignmentState.SUCCEEDED,
)
_CLOSERS_ALWAYS = frozenset({Role.ADMIN, Role.DEPLOYMENT_MANAGER})


def _load(session: Session, work_order_id: int, *, for_update: bool = False) -> WorkOrder:
    query = (
        select(WorkOrder)
        .options(
            selectinload(WorkOrder.assignment).selectinload(Assignment.target),
            selectinload(WorkOrder.assignment).selectinload(Assignment.component),
            selectinload(WorkOrder.assignment).selectinload(Assignment.version),
        )
        .where(WorkOrder.id == work_order_id)
    )
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise NotFoundError(
            f"work order {work_order_id} not found", details={"work_order": work_order_id}
        )
    return found


def get_work_order(session: Session, work_order_id: int) -> WorkOrder:
    return _load(session, work_order_id)


def list_work_orders(
    session: Session, *, state: str | None = None, role: str | None = None, limit: int, offset: int
) -> list[WorkOrder]:
    query = (
        select(WorkOrder)
        .options(
            selectinload(WorkOrder.assignment).selectinload(Assignment.target),
            selectinload(WorkOrder.assignment).selectinload(Assignment.component),
            selectinload(WorkOrder.assignment).selectinload(Assignment.version),
        )
        .order_by(WorkOrder.id)
    )
    if state is not None:
        query = query.where(WorkOrder.state == state)
    if role is not None:
        query = query.where(WorkOrder.assigned_role == role)
    return list(session.scalars(query.limit(limit).offset(offset)))


def open_work_order(
    session: Session,
    actor: Actor,
    *,
    target: str,
    component: str,
    version: str,
    title: str,
    assigned_role: str,
    instructions: str = "",
    checklist: Sequence[str] = (),
    evidence_required: Sequence[str] = (),
    hardware_serial: str | None = None,
    action: str = "install",
    deployment_id: int | None = None,
) -> WorkOrder:
    """Create the assignment for a manual target and the work order a person carries out.

    Raises:
        InvalidInputError: the target is not manual, or the role cannot carry out work.
        ConflictError: a hardware item that is not reserved for this target.
    """
    place = get_target(session, target)
    if place.connection != ConnectionKind.MANUAL.value:
        raise InvalidInputError(
            f"target {target} is reached by {place.connection}, not by a person; "
            "work orders are for manual targets"
        )
    try:
        role = Role(assigned_role)
    except ValueError:
        raise InvalidInputError(f"unknown role {assigned_role!r}") from None
    if role is Role.AGENT:
        raise InvalidInputError("work orders are carried out by people, not agents")
    if hardware_serial is not None:
        item = get_item(session, hardware_serial)
        reserved_for = item.reserved_for_target
        if item.state != "reserved" or reserved_for is None or reserved_for.name != target:
            raise ConflictError(
                f"hardware item {hardware_serial} must be reserved for {target} first "
                f"(it is {item.state}"
                + (f" for {reserved_for.name})" if reserved_for is not None else ")"),
                details={"serial": hardware_serial, "state": item.state},
            )
    assignment = create_assignment(
        session,
        actor,
        target=place,
        version=get_version(session, component, version),
        action=action,
        deployment_id=deployment_id,
        reason=f"work order: {title}",
    )
    order = WorkOrder(
        assignment=assignment,
        title=title,
        instructions=instructions,
        location=place.address,
        checklist=list(checklist),
        evidence_required=list(evidence_required),
        assigned_role=role.value,
        hardware_serial=hardware_serial,
        state=WorkOrderState.OPEN.value,
        checked=[],
        evidence={},
        created_by=actor.name,
        created_at=utcnow(),
    )
    session.add(order)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="work_order.open",
        subject_type="work_order",
        subject_id=str(order.id),
        after=order.as_dict(),
    )
    return order


def _may_close(actor: Actor, order: WorkOrder) -> None:
    if actor.roles & _CLOSERS_ALWAYS or Role(order.assigned_role) in actor.roles:
        return
    raise PermissionDeniedError(
        f"work order {order.id} is assigned to the role {order.assigned_role}; "
        f"{actor.name} does not hold it",
        details={"roles_needed": sorted({order.assigned_role, *_CLOSERS_ALWAYS})},
    )


def _require_open(order: WorkOrder) -> None:
    if order.state != WorkOrderState.OPEN.value:
        raise ConflictError(
            f"work order {order.id} is already {order.state}",
            details={"state": order.state},
        )


def complete_work_order(
    session: Session,
    actor: Actor,
    work_order_id: int,
    *,
    checked: Sequence[int],
    evidence: dict[str, str],
    note: str | None = None,
) -> WorkOrder:
    """Close a work order as done: every checklist item ticked, every evidence given.

    Raises:
        PermissionDeniedError: the actor does not hold the assigned role.
        InvalidInputError: checklist items unticked or evidence missing (named).
    """
    order = _load(session, work_order_id, for_update=True)
    _may_close(actor, order)
    _require_open(order)
    ticked = sorted(set(checked))
    valid = set(range(1, len(order.checklist) + 1))
    if unknown := [item for item in ticked if item not in valid]:
        raise InvalidInputError(f"checklist has no item {unknown[0]} (it has {len(valid)})")
    if missing := sorted(valid - set(ticked)):
        raise InvalidInputError(
            "every checklist item must be done; not ticked: "
            + ", ".join(f"{n} ({order.checklist[n - 1]})" for n in missing),
            details={"unticked": missing},
        )
    given = {key: value for key, value in evidence.items() if value.strip()}
    if absent := [name for name in order.evidence_required if name not in given]:
        raise InvalidInputError(
            f"evidence missing: {', '.join(absent)}", details={"missing": absent}
        )
    order.checked = ticked
    order.evidence = given
    order.state = WorkOrderState.COMPLETED.value
    order.outcome_reason = note
    order.closed_by = actor.name
    order.closed_at = utcnow()
    if order.hardware_serial is not None:
        deploy_item(
            session,
            actor,
            order.hardware_serial,
            target=order.assignment.target.name,
            reason=f"work order {order.id} completed",
        )
    reason = f"work order {order.id} completed by {actor.name}" + (f": {note}" if note else "")
    for step in _COMPLETION_PATH:
        if AssignmentState(order.assignment.state).is_terminal:
            break
        move_assignment(session, actor, order.assignment, step, reason=reason)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="work_order.complete",
        subject_type="work_order",
        subject_id=str(order.id),
        after={"evidence": given, "checked": ticked, "note": note},
    )
    return order


def fail_work_order(
    session: Session, actor: Actor, work_order_id: int, *, reason: str
) -> WorkOrder:
    """Close a work order as not done; its assignment fails with the reason."""
    if not reason.strip():
        raise InvalidInputError("failing a work order needs a reason")
    order = _load(session, work_order_id, for_update=True)
    _may_close(actor, order)
    _require_open(order)
    order.state = WorkOrderState.FAILED.value
    order.outcome_reason = reason
    order.closed_by = actor.name
    order.closed_at = utcnow()
    move_assignment(
        session,
        actor,
        order.assignment,
        AssignmentState.FAILED,
        reason=f"work order {order.id} failed: {reason}",
    )
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="work_order.fail",
        subject_type="work_order",
        subject_id=str(order.id),
        reason=reason,
    )
    return order
