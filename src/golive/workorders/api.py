"""Work order endpoints: /api/v1/work-orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.inventory.schemas import StrictModel
from golive.validation import LongText, ShortText, Slug
from golive.workorders import service
from golive.workorders.models import WorkOrderState

router = APIRouter(prefix="/api/v1", tags=["work orders"])
Reader = Annotated[Actor, Depends(require(Permission.WORK_ORDERS_READ))]
Manager = Annotated[Actor, Depends(require(Permission.WORK_ORDERS_MANAGE))]
Obj = dict[str, Any]
Lines = Annotated[list[ShortText], Field(max_length=50)]


class WorkOrderCreate(StrictModel):
    target: Slug
    component: Slug
    version: ShortText
    title: ShortText
    assigned_role: Slug | str
    instructions: LongText = ""
    checklist: Lines = Field(default_factory=list)
    evidence_required: Lines = Field(default_factory=list)
    hardware_serial: ShortText | None = None
    action: str = "install"


class WorkOrderComplete(StrictModel):
    checked: Annotated[list[int], Field(max_length=50)] = Field(default_factory=list)
    evidence: Annotated[dict[ShortText, LongText], Field(max_length=50)] = Field(
        default_factory=dict
    )
    note: ShortText | None = None


class WorkOrderFail(StrictModel):
    reason: ShortText


@router.get("/work-orders", summary="Work orders, oldest first")
def list_work_orders(
    db: DB,
    _actor: Reader,
    state: Annotated[WorkOrderState | None, Query()] = None,
    role: Annotated[str | None, Query(description="Only those assigned to this role.")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_work_orders(
            session, state=state.value if state else None, role=role, limit=limit, offset=offset
        )
        return page([order.as_dict() for order in found], limit, offset)


@router.post("/work-orders", status_code=201, summary="Open a work order on a manual target")
def open_work_order(spec: WorkOrderCreate, db: DB, actor: Manager) -> Obj:
    with db.writing() as session:
        return service.open_work_order(
            session,
            actor,
            target=spec.target,
            component=spec.component,
            version=spec.version,
            title=spec.title,
            assigned_role=spec.assigned_role,
            instructions=spec.instructions,
            checklist=spec.checklist,
            evidence_required=spec.evidence_required,
            hardware_serial=spec.hardware_serial,
            action=spec.action,
        ).as_dict()


@router.get("/work-orders/{work_order_id}", summary="Show a work order")
def show_work_order(work_order_id: int, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_work_order(session, work_order_id).as_dict()


@router.post(
    "/work-orders/{work_order_id}/complete",
    summary="Close a work order as done, with its checklist and evidence",
)
def complete_work_order(work_order_id: int, spec: WorkOrderComplete, db: DB, actor: Reader) -> Obj:
    with db.writing() as session:
        return service.complete_work_order(
            session,
            actor,
            work_order_id,
            checked=spec.checked,
            evidence=spec.evidence,
            note=spec.note,
        ).as_dict()


@router.post("/work-orders/{work_order_id}/fail", summary="Close a work order as not done")
def fail_work_order(work_order_id: int, spec: WorkOrderFail, db: DB, actor: Reader) -> Obj:
    with db.writing() as session:
        return service.fail_work_order(session, actor, work_order_id, reason=spec.reason).as_dict()
