"""Hardware store rules over the records: models, items, state changes and stock.

Every function that changes a record writes its audit event in the caller's
transaction. State changes go through ``hardware.rules.check_transition``; the
move to ``deployed`` is offered only here (``deploy_item``), for the deployment
work that puts the item on its target, not over the API.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.auth.service import Actor
from golive.db import utcnow
from golive.errors import ConflictError, NotFoundError
from golive.hardware.models import HardwareItem, HardwareModel
from golive.hardware.rules import (
    BUILD_EDITABLE,
    HOLDS_TARGET,
    ItemState,
    StockLevel,
    check_transition,
    describe,
    stock_level,
)
from golive.hardware.schemas import (
    HardwareItemCreate,
    HardwareItemUpdate,
    HardwareModelCreate,
    HardwareModelUpdate,
)
from golive.inventory.models import Target
from golive.inventory.service import TARGET_DELETE_GUARDS, get_target

MODEL = "hardware_model"
ITEM = "hardware_item"


# --- hardware models ----------------------------------------------------------


def get_model(session: Session, name: str) -> HardwareModel:
    found = session.scalars(select(HardwareModel).where(HardwareModel.name == name)).one_or_none()
    if found is None:
        raise NotFoundError(f"hardware model {name!r} not found", details={"model": name})
    return found


def list_models(session: Session, *, limit: int, offset: int) -> list[HardwareModel]:
    query = select(HardwareModel).order_by(HardwareModel.name)
    return list(session.scalars(query.limit(limit).offset(offset)))


def create_model(session: Session, actor: Actor, spec: HardwareModelCreate) -> HardwareModel:
    if session.scalars(select(HardwareModel.id).where(HardwareModel.name == spec.name)).first():
        raise ConflictError(f"hardware model {spec.name!r} already exists")
    now = utcnow()
    model = HardwareModel(
        name=spec.name,
        vendor=spec.vendor,
        model=spec.model,
        specification=dict(spec.specification),
        minimum_stock=spec.minimum_stock,
        description=spec.description,
        created_at=now,
        updated_at=now,
    )
    session.add(model)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action=f"{MODEL}.create",
        subject_type=MODEL,
        subject_id=spec.name,
        after=model.as_dict(),
    )
    return model


def update_model(
    session: Session, actor: Actor, name: str, spec: HardwareModelUpdate
) -> HardwareModel:
    model = get_model(session, name)
    before = model.as_dict()
    if spec.vendor is not None:
        model.vendor = spec.vendor
    if spec.model is not None:
        model.model = spec.model
    if spec.specification is not None:
        model.specification = dict(spec.specification)
    if spec.minimum_stock is not None:
        model.minimum_stock = spec.minimum_stock
    if spec.description is not None:
        model.description = spec.description
    if audit.record_update(
        session,
        actor=actor.name,
        subject_type=MODEL,
        subject_id=name,
        before=before,
        after=model.as_dict(),
    ):
        model.updated_at = utcnow()
        session.flush()
    return model


# --- hardware items -----------------------------------------------------------


def _items() -> Any:
    return select(HardwareItem).options(
        selectinload(HardwareItem.model), selectinload(HardwareItem.reserved_for_target)
    )


def get_item(session: Session, serial: str, *, for_update: bool = False) -> HardwareItem:
    """The item with ``serial``; ``for_update`` locks its row until the transaction ends."""
    query = _items().where(HardwareItem.serial == serial)
    if for_update:
        query = query.with_for_update(of=HardwareItem)
    found: HardwareItem | None = session.scalars(query).one_or_none()
    if found is None:
        raise NotFoundError(f"hardware item {serial!r} not found", details={"serial": serial})
    return found


def list_items(
    session: Session,
    *,
    model: str | None = None,
    state: ItemState | None = None,
    limit: int,
    offset: int,
) -> list[HardwareItem]:
    query = _items().order_by(HardwareItem.serial)
    if model is not None:
        query = query.where(HardwareItem.model_id == get_model(session, model).id)
    if state is not None:
        query = query.where(HardwareItem.state == state.value)
    return list(session.scalars(query.limit(limit).offset(offset)))


def _refuse_taken_asset_tag(session: Session, asset_tag: str, serial: str) -> None:
    holder = session.scalars(
        select(HardwareItem.serial).where(HardwareItem.asset_tag == asset_tag)
    ).first()
    if holder is not None and holder != serial:
        raise ConflictError(
            f"asset tag {asset_tag!r} is already on item {holder}",
            details={"asset_tag": asset_tag, "serial": holder},
        )


def add_item(session: Session, actor: Actor, spec: HardwareItemCreate) -> HardwareItem:
    """Take a built item into the store (state ``in_store``)."""
    model = get_model(session, spec.model)
    if session.scalars(select(HardwareItem.id).where(HardwareItem.serial == spec.serial)).first():
        raise ConflictError(
            f"hardware item {spec.serial!r} already exists", details={"serial": spec.serial}
        )
    if spec.asset_tag is not None:
        _refuse_taken_asset_tag(session, spec.asset_tag, spec.serial)
    now = utcnow()
    item = HardwareItem(
        serial=spec.serial,
        asset_tag=spec.asset_tag,
        model=model,
        build=dict(spec.build),
        store_location=spec.store_location,
        state=ItemState.IN_STORE.value,
        reserved_for_target=None,
        state_reason=spec.reason,
        created_at=now,
        updated_at=now,
    )
    session.add(item)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action=f"{ITEM}.create",
        subject_type=ITEM,
        subject_id=spec.serial,
        after=item.as_dict(),
        reason=spec.reason or None,
    )
    return item


def update_item(
    session: Session, actor: Actor, serial: str, spec: HardwareItemUpdate
) -> HardwareItem:
    """Change an item's recorded build, store location or asset tag.

    Raises:
        ConflictError: the item is disposed, its build is held (reserved, deployed,
            retired), or the asset tag is on another item.
    """
    item = get_item(session, serial, for_update=True)
    state = ItemState(item.state)
    if state is ItemState.DISPOSED:
        raise ConflictError(f"item {serial} is disposed; its record no longer changes")
    before = item.as_dict()
    given = spec.model_fields_set
    if spec.build is not None and dict(spec.build) != item.build:
        if state not in BUILD_EDITABLE:
            editable = describe([s for s in ItemState if s in BUILD_EDITABLE])
            raise ConflictError(
                f"item {serial} is {state.value}; its build can change only while it is "
                f"{editable.replace(', ', ' or ')}",
                details={"serial": serial, "state": state.value},
            )
        item.build = dict(spec.build)
    if spec.store_location is not None:
        item.store_location = spec.store_location
    if "asset_tag" in given:
        if spec.asset_tag is not None:
            _refuse_taken_asset_tag(session, spec.asset_tag, serial)
        item.asset_tag = spec.asset_tag
    if audit.record_update(
        session,
        actor=actor.name,
        subject_type=ITEM,
        subject_id=serial,
        before=before,
        after=item.as_dict(),
        reason=spec.reason,
    ):
        item.updated_at = utcnow()
        session.flush()
    return item


# --- state changes ------------------------------------------------------------


def _move(
    session: Session,
    actor: Actor,
    item: HardwareItem,
    wanted: ItemState,
    *,
    verb: str,
    reason: str,
    target: Target | None = None,
) -> HardwareItem:
    current = ItemState(item.state)
    check_transition(item.serial, current, wanted)
    old_target = item.reserved_for_target
    if wanted not in HOLDS_TARGET:
        target = None
    elif target is None:
        target = old_target
    before = {"state": current.value, "target": old_target.name if old_target else None}
    item.state = wanted.value
    item.reserved_for_target = target
    item.state_reason = reason
    item.updated_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action=f"{ITEM}.{verb}",
        subject_type=ITEM,
        subject_id=item.serial,
        before=before,
        after={"state": wanted.value, "target": target.name if target else None},
        reason=reason or None,
    )
    return item


def reserve_item(
    session: Session, actor: Actor, serial: str, *, target: str, reason: str = ""
) -> HardwareItem:
    """Hold an item in the store for one target (``in_store -> reserved``).

    Raises:
        NotFoundError: the item or the target does not exist.
        ConflictError: the item may not be reserved from its current state.
    """
    item = get_item(session, serial, for_update=True)
    destination = get_target(session, target)
    return _move(
        session, actor, item, ItemState.RESERVED, verb="reserve", reason=reason, target=destination
    )


def return_item(session: Session, actor: Actor, serial: str, *, reason: str = "") -> HardwareItem:
    """Put an item back in the store, from a reservation, a site or repair; clears its target."""
    item = get_item(session, serial, for_update=True)
    return _move(session, actor, item, ItemState.IN_STORE, verb="return", reason=reason)


def repair_item(session: Session, actor: Actor, serial: str, *, reason: str = "") -> HardwareItem:
    item = get_item(session, serial, for_update=True)
    return _move(session, actor, item, ItemState.IN_REPAIR, verb="repair", reason=reason)


def retire_item(session: Session, actor: Actor, serial: str, *, reason: str = "") -> HardwareItem:
    item = get_item(session, serial, for_update=True)
    return _move(session, actor, item, ItemState.RETIRED, verb="retire", reason=reason)


def dispose_item(session: Session, actor: Actor, serial: str, *, reason: str = "") -> HardwareItem:
    item = get_item(session, serial, for_update=True)
    return _move(session, actor, item, ItemState.DISPOSED, verb="dispose", reason=reason)


def deploy_item(
    session: Session, actor: Actor, serial: str, *, target: str | None = None, reason: str = ""
) -> HardwareItem:
    """Record a reserved item as deployed to the target it was reserved for.

    Not exposed over the API: deployment work calls it when the item is installed.

    Raises:
        ConflictError: the item is not reserved, or ``target`` is not the one it is
            reserved for.
    """
    item = get_item(session, serial, for_update=True)
    reserved_for = item.reserved_for_target
    if target is not None and reserved_for is not None and reserved_for.name != target:
        raise ConflictError(
            f"item {serial} is reserved for target {reserved_for.name}, not {target}",
            details={"serial": serial, "target": reserved_for.name},
        )
    return _move(session, actor, item, ItemState.DEPLOYED, verb="deploy", reason=reason)


# --- stock --------------------------------------------------------------------


def stock(session: Session, *, model: str | None = None) -> list[StockLevel]:
    """Stock levels of every hardware model (or one), by name."""
    query = select(HardwareModel).order_by(HardwareModel.name)
    if model is not None:
        query = query.where(HardwareModel.id == get_model(session, model).id)
    models = list(session.scalars(query))
    counted = select(HardwareItem.model_id, HardwareItem.state, func.count(HardwareItem.id))
    if model is not None:
        counted = counted.where(HardwareItem.model_id.in_([m.id for m in models]))
    counts: dict[int, dict[str, int]] = {}
    for model_id, state, count in session.execute(
        counted.group_by(HardwareItem.model_id, HardwareItem.state)
    ):
        counts.setdefault(model_id, {})[state] = count
    return [
        stock_level(m.name, m.vendor, m.model, m.minimum_stock, counts.get(m.id, {}))
        for m in models
    ]


def _hardware_blocks_delete(session: Session, target_id: int) -> str | None:
    held = session.scalars(
        select(HardwareItem.serial).where(HardwareItem.reserved_for_target_id == target_id)
    ).all()
    if not held:
        return None
    return (
        f"hardware is reserved for or deployed on this target ({', '.join(sorted(held))}); "
        "return or move it first"
    )


TARGET_DELETE_GUARDS.append(_hardware_blocks_delete)
