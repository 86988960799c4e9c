"""Inventory endpoints: /api/v1/environments, /api/v1/targets, /api/v1/components."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Response

from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.errors import InvalidInputError
from golive.inventory import service
from golive.inventory.models import ComponentKind
from golive.inventory.schemas import (
    ComponentCreate,
    ComponentUpdate,
    EnvironmentCreate,
    EnvironmentUpdate,
    TargetCreate,
    TargetUpdate,
)
from golive.validation import parse_label

router = APIRouter(prefix="/api/v1", tags=["inventory"])

Reader = Annotated[Actor, Depends(require(Permission.INVENTORY_READ))]
EnvironmentWriter = Annotated[Actor, Depends(require(Permission.ENVIRONMENTS_WRITE))]
TargetWriter = Annotated[Actor, Depends(require(Permission.TARGETS_WRITE))]
ComponentWriter = Annotated[Actor, Depends(require(Permission.COMPONENTS_WRITE))]

Obj = dict[str, Any]


# --- environments -----------------------------------------------------------


@router.get("/environments", summary="List environments in promotion order")
def list_environments(db: DB, _actor: Reader, limit: Limit = 100, offset: Offset = 0) -> Obj:
    with db.reading() as session:
        items = [
            e.as_dict() for e in service.list_environments(session, limit=limit, offset=offset)
        ]
    return page(items, limit, offset)


@router.post("/environments", status_code=201, summary="Create an environment")
def create_environment(spec: EnvironmentCreate, db: DB, actor: EnvironmentWriter) -> Obj:
    with db.writing() as session:
        return service.create_environment(session, actor, spec).as_dict()


@router.get("/environments/{name}", summary="Show an environment")
def show_environment(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_environment(session, name).as_dict()


@router.patch(
    "/environments/{name}", summary="Change an environment's description, order or policy"
)
def update_environment(name: str, spec: EnvironmentUpdate, db: DB, actor: EnvironmentWriter) -> Obj:
    with db.writing() as session:
        return service.update_environment(session, actor, name, spec).as_dict()


@router.delete(
    "/environments/{name}", status_code=204, summary="Delete an environment without targets"
)
def delete_environment(name: str, db: DB, actor: EnvironmentWriter) -> Response:
    with db.writing() as session:
        service.delete_environment(session, actor, name)
    return Response(status_code=204)


# --- targets ------------------------------------------------------------------


@router.get("/targets", summary="List targets, by environment and labels")
def list_targets(
    db: DB,
    _actor: Reader,
    environment: str | None = None,
    label: Annotated[
        list[str] | None, Query(description="key=value; repeat to require several")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    try:
        labels = dict(parse_label(text) for text in label or [])
    except ValueError as exc:
        raise InvalidInputError(str(exc)) from None
    with db.reading() as session:
        found = service.list_targets(
            session, environment=environment, labels=labels, limit=limit, offset=offset
        )
        items = [t.as_dict() for t in found]
    return page(items, limit, offset)


@router.post("/targets", status_code=201, summary="Register a target in an environment")
def create_target(spec: TargetCreate, db: DB, actor: TargetWriter) -> Obj:
    with db.writing() as session:
        return service.create_target(session, actor, spec).as_dict()


@router.get("/targets/{name}", summary="Show a target")
def show_target(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_target(session, name).as_dict()


@router.patch("/targets/{name}", summary="Change a target (labels replace the old set)")
def update_target(name: str, spec: TargetUpdate, db: DB, actor: TargetWriter) -> Obj:
    with db.writing() as session:
        return service.update_target(session, actor, name, spec).as_dict()


@router.delete("/targets/{name}", status_code=204, summary="Delete a target")
def delete_target(name: str, db: DB, actor: TargetWriter) -> Response:
    with db.writing() as session:
        service.delete_target(session, actor, name)
    return Response(status_code=204)


# --- components -------------------------------------------------------------


@router.get("/components", summary="List components")
def list_components(
    db: DB,
    _actor: Reader,
    kind: ComponentKind | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_components(
            session, kind=kind.value if kind else None, limit=limit, offset=offset
        )
        items = [c.as_dict() for c in found]
    return page(items, limit, offset)


@router.post("/components", status_code=201, summary="Register a component")
def create_component(spec: ComponentCreate, db: DB, actor: ComponentWriter) -> Obj:
    with db.writing() as session:
        return service.create_component(session, actor, spec).as_dict()


@router.get("/components/{name}", summary="Show a component")
def show_component(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_component(session, name).as_dict()


@router.patch("/components/{name}", summary="Change a component's description or owner")
def update_component(name: str, spec: ComponentUpdate, db: DB, actor: ComponentWriter) -> Obj:
    with db.writing() as session:
        return service.update_component(session, actor, name, spec).as_dict()


@router.delete("/components/{name}", status_code=204, summary="Delete a component")
def delete_component(name: str, db: DB, actor: ComponentWriter) -> Response:
    with db.writing() as session:
        service.delete_component(session, actor, name)
    return Response(status_code=204)
