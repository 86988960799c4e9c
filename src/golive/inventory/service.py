"""Inventory rules: create, change and remove environments, targets and components.

Every function that changes a record writes its audit event in the caller's
transaction.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection, bindparam, func, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.auth.service import Actor
from golive.db import utcnow
from golive.errors import ConflictError, NotFoundError
from golive.inventory.models import Component, Environment, Target
from golive.inventory.schemas import (
    ComponentCreate,
    ComponentUpdate,
    EnvironmentCreate,
    EnvironmentUpdate,
    TargetCreate,
    TargetUpdate,
)

# Other rooms say why a record may not be deleted (a component with versions in the
# media library, a target holding hardware, ...): each returns a sentence or None.
DeleteGuard = Callable[[Session, int], str | None]
COMPONENT_DELETE_GUARDS: list[DeleteGuard] = []
TARGET_DELETE_GUARDS: list[DeleteGuard] = []


def _refuse_if_guarded(session: Session, guards: list[DeleteGuard], record_id: int) -> None:
    for guard in guards:
        reason = guard(session, record_id)
        if reason is not None:
            raise ConflictError(reason)


# --- environments -----------------------------------------------------------


def get_environment(session: Session, name: str) -> Environment:
    found = session.scalars(select(Environment).where(Environment.name == name)).one_or_none()
    if found is None:
        raise NotFoundError(f"environment {name!r} not found", details={"environment": name})
    return found


def list_environments(session: Session, *, limit: int, offset: int) -> list[Environment]:
    query = select(Environment).order_by(Environment.position, Environment.name)
    return list(session.scalars(query.limit(limit).offset(offset)))


def create_environment(session: Session, actor: Actor, spec: EnvironmentCreate) -> Environment:
    if session.scalars(select(Environment.id).where(Environment.name == spec.name)).first():
        raise ConflictError(f"environment {spec.name!r} already exists")
    now = utcnow()
    environment = Environment(
        name=spec.name,
        description=spec.description,
        position=spec.order,
        policy=spec.policy.model_dump(mode="json"),
        created_at=now,
        updated_at=now,
    )
    session.add(environment)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="environment.create",
        subject_type="environment",
        subject_id=spec.name,
        after=environment.as_dict(),
    )
    return environment


def update_environment(
    session: Session, actor: Actor, name: str, spec: EnvironmentUpdate
) -> Environment:
    environment = get_environment(session, name)
    before = environment.as_dict()
    given = spec.model_fields_set
    if "description" in given and spec.description is not None:
        environment.description = spec.description
    if "order" in given and spec.order is not None:
        environment.position = spec.order
    if "policy" in given and spec.policy is not None:
        environment.policy = spec.policy.model_dump(mode="json")
    if audit.record_update(
        session,
        actor=actor.name,
        subject_type="environment",
        subject_id=name,
        before=before,
        after=environment.as_dict(),
    ):
        environment.updated_at = utcnow()
        session.flush()
    return environment


def delete_environment(session: Session, actor: Actor, name: str) -> None:
    environment = get_environment(session, name)
    count = session.scalar(
        select(func.count(Target.id)).where(Target.environment_id == environment.id)
    )
    if count:
        raise ConflictError(
            f"environment {name!r} still has {count} target(s); move or delete them first",
            details={"targets": count},
        )
    before = environment.as_dict()
    session.delete(environment)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="environment.delete",
        subject_type="environment",
        subject_id=name,
        before=before,
    )


# --- targets ------------------------------------------------------------------


def get_target(session: Session, name: str) -> Target:
    found = session.scalars(
        select(Target).options(selectinload(Target.environment)).where(Target.name == name)
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"target {name!r} not found", details={"target": name})
    return found


def list_targets(
    session: Session,
    *,
    environment: str | None = None,
    labels: dict[str, str] | None = None,
    limit: int,
    offset: int,
) -> list[Target]:
    query = select(Target).options(selectinload(Target.environment)).order_by(Target.name)
    if environment is not None:
        query = query.where(Target.environment_id == get_environment(session, environment).id)
    if not labels:
        return list(session.scalars(query.limit(limit).offset(offset)))
    # Label selection is matched in Python so it behaves the same on SQLite and
    # PostgreSQL; the inventory API is not the fleet-scale path (agents are).
    matching = [
        t for t in session.scalars(query) if all(t.labels.get(k) == v for k, v in labels.items())
    ]
    return matching[offset : offset + limit]


def create_target(session: Session, actor: Actor, spec: TargetCreate) -> Target:
    environment = get_environment(session, spec.environment)
    if session.scalars(select(Target.id).where(Target.name == spec.name)).first():
        raise ConflictError(f"target {spec.name!r} already exists")
    now = utcnow()
    target = Target(
        name=spec.name,
        environment=environment,
        description=spec.description,
        labels=dict(spec.labels),
        connection=spec.connection.value,
        address=spec.address,
        organisation=spec.organisation,
        created_at=now,
        updated_at=now,
    )
    session.add(target)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="target.create",
        subject_type="target",
        subject_id=spec.name,
        after=target.as_dict(),
    )
    return target


def update_target(session: Session, actor: Actor, name: str, spec: TargetUpdate) -> Target:
    target = get_target(session, name)
    before = target.as_dict()
    given = spec.model_fields_set
    if "environment" in given and spec.environment is not None:
        target.environment = get_environment(session, spec.environment)
    if "description" in given and spec.description is not None:
        target.description = spec.description
    if "labels" in given and spec.labels is not None:
        target.labels = dict(spec.labels)
    if "connection" in given and spec.connection is not None:
        target.connection = spec.connection.value
    if "address" in given:
        target.address = spec.address
    if "organisation" in given:
        target.organisation = spec.organisation
    if audit.record_update(
        session,
        actor=actor.name,
        subject_type="target",
        subject_id=name,
        before=before,
        after=target.as_dict(),
    ):
        target.updated_at = utcnow()
        session.flush()
    return target


def delete_target(session: Session, actor: Actor, name: str) -> None:
    target = get_target(session, name)
    _refuse_if_guarded(session, TARGET_DELETE_GUARDS, target.id)
    before = target.as_dict()
    session.delete(target)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="target.delete",
        subject_type="target",
        subject_id=name,
        before=before,
    )


# --- components -------------------------------------------------------------


_COMPONENT_ID = select(Component.id).where(Component.name == bindparam("name"))


def component_id(reader: Session | Connection, name: str) -> int:
    """The component's id (a cheap existence check for hot paths), or NotFoundError."""
    found = reader.execute(_COMPONENT_ID, {"name": name}).scalar_one_or_none()
    if found is None:
        raise NotFoundError(f"component {name!r} not found", details={"component": name})
    return int(found)


def get_component(session: Session, name: str) -> Component:
    found = session.scalars(select(Component).where(Component.name == name)).one_or_none()
    if found is None:
        raise NotFoundError(f"component {name!r} not found", details={"component": name})
    return found


def list_components(
    session: Session, *, kind: str | None = None, limit: int, offset: int
) -> list[Component]:
    query = select(Component).order_by(Component.name)
    if kind is not None:
        query = query.where(Component.kind == kind)
    return list(session.scalars(query.limit(limit).offset(offset)))


def create_component(session: Session, actor: Actor, spec: ComponentCreate) -> Component:
    if session.scalars(select(Component.id).where(Component.name == spec.name)).first():
        raise ConflictError(f"component {spec.name!r} already exists")
    now = utcnow()
    component = Component(
        name=spec.name,
        kind=spec.kind.value,
        description=spec.description,
        owner=spec.owner,
        created_at=now,
        updated_at=now,
    )
    session.add(component)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="component.create",
        subject_type="component",
        subject_id=spec.name,
        after=component.as_dict(),
    )
    return component


def update_component(session: Session, actor: Actor, name: str, spec: ComponentUpdate) -> Component:
    component = get_component(session, name)
    before = component.as_dict()
    given = spec.model_fields_set
    if "description" in given and spec.description is not None:
        component.description = spec.description
    if "owner" in given:
        component.owner = spec.owner
    if audit.record_update(
        session,
        actor=actor.name,
        subject_type="component",
        subject_id=name,
        before=before,
        after=component.as_dict(),
    ):
        component.updated_at = utcnow()
        session.flush()
    return component


def delete_component(session: Session, actor: Actor, name: str) -> None:
    component = get_component(session, name)
    _refuse_if_guarded(session, COMPONENT_DELETE_GUARDS, component.id)
    before = component.as_dict()
    session.delete(component)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="component.delete",
        subject_type="component",
        subject_id=name,
        before=before,
    )
