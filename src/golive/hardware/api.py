"""Hardware store endpoints: /api/v1/hardware/models, /items and /stock.

An item's serial may contain '/', so item routes take the rest of the path as the
serial. The move to ``deployed`` has no endpoint: deployment work records it
through ``service.deploy_item`` when the item is installed on its target.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.hardware import service
from golive.hardware.rules import ItemState
from golive.hardware.schemas import (
    HardwareItemCreate,
    HardwareItemUpdate,
    HardwareModelCreate,
    HardwareModelUpdate,
    Reservation,
    StateChange,
)

router = APIRouter(prefix="/api/v1", tags=["hardware"])

Reader = Annotated[Actor, Depends(require(Permission.HARDWARE_READ))]
Writer = Annotated[Actor, Depends(require(Permission.HARDWARE_WRITE))]

Obj = dict[str, Any]


# --- hardware models ----------------------------------------------------------


@router.get("/hardware/models", summary="List hardware models")
def list_models(db: DB, _actor: Reader, limit: Limit = 100, offset: Offset = 0) -> Obj:
    with db.reading() as session:
        items = [m.as_dict() for m in service.list_models(session, limit=limit, offset=offset)]
    return page(items, limit, offset)


@router.post("/hardware/models", status_code=201, summary="Register a hardware model")
def create_model(spec: HardwareModelCreate, db: DB, actor: Writer) -> Obj:
    with db.writing() as session:
        return service.create_model(session, actor, spec).as_dict()


@router.get("/hardware/models/{name}", summary="Show a hardware model")
def show_model(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_model(session, name).as_dict()


@router.patch(
    "/hardware/models/{name}",
    summary="Change a hardware model (a specification replaces the old one)",
)
def update_model(name: str, spec: HardwareModelUpdate, db: DB, actor: Writer) -> Obj:
    with db.writing() as session:
        return service.update_model(session, actor, name, spec).as_dict()


# --- hardware items -----------------------------------------------------------


@router.get("/hardware/items", summary="List hardware items, by model and state")
def list_items(
    db: DB,
    _actor: Reader,
    model: str | None = None,
    state: ItemState | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_items(session, model=model, state=state, limit=limit, offset=offset)
        items = [i.as_dict() for i in found]
    return page(items, limit, offset)


@router.post("/hardware/items", status_code=201, summary="Take a built item into the store")
def add_item(spec: HardwareItemCreate, db: DB, actor: Writer) -> Obj:
    with db.writing() as session:
        return service.add_item(session, actor, spec).as_dict()


@router.post("/hardware/items/{serial:path}/reserve", summary="Reserve an item for a target")
def reserve_item(serial: str, spec: Reservation, db: DB, actor: Writer) -> Obj:
    with db.writing() as session:
        item = service.reserve_item(session, actor, serial, target=spec.target, reason=spec.reason)
        return item.as_dict()


@router.post(
    "/hardware/items/{serial:path}/return",
    summary="Return an item to the store (from a reservation, a site or repair)",
)
def return_item(serial: str, db: DB, actor: Writer, spec: StateChange | None = None) -> Obj:
    with db.writing() as session:
        reason = spec.reason if spec else ""
        return service.return_item(session, actor, serial, reason=reason).as_dict()


@router.post("/hardware/items/{serial:path}/repair", summary="Send an item for repair")
def repair_item(serial: str, db: DB, actor: Writer, spec: StateChange | None = None) -> Obj:
    with db.writing() as session:
        reason = spec.reason if spec else ""
        return service.repair_item(session, actor, serial, reason=reason).as_dict()


@router.post("/hardware/items/{serial:path}/retire", summary="Retire an item from service")
def retire_item(serial: str, db: DB, actor: Writer, spec: StateChange | None = None) -> Obj:
    with db.writing() as session:
        reason = spec.reason if spec else ""
        return service.retire_item(session, actor, serial, reason=reason).as_dict()


@router.post("/hardware/items/{serial:path}/dispose", summary="Record a retired item as disposed")
def dispose_item(serial: str, db: DB, actor: Writer, spec: StateChange | None = None) -> Obj:
    with db.writing() as session:
        reason = spec.reason if spec else ""
        return service.dispose_item(session, actor, serial, reason=reason).as_dict()


@router.get("/hardware/items/{serial:path}", summary="Show a hardware item")
def show_item(serial: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_item(session, serial).as_dict()


@router.patch(
    "/hardware/items/{serial:path}",
    summary="Change an item's build details (replaced whole), store location or asset tag",
)
def update_item(serial: str, spec: HardwareItemUpdate, db: DB, actor: Writer) -> Obj:
    with db.writing() as session:
        return service.update_item(session, actor, serial, spec).as_dict()


# --- stock --------------------------------------------------------------------


@router.get("/hardware/stock", summary="Stock levels per hardware model, against their minimum")
def stock(db: DB, _actor: Reader, model: str | None = None) -> Obj:
    with db.reading() as session:
        levels = [level.as_dict() for level in service.stock(session, model=model)]
    return {"items": levels, "below_minimum": [lv["model"] for lv in levels if lv["below_minimum"]]}
