"""The ITSM bridge's rules: carry out what an ITSM tool asks for through golive's change
control service, so transitions, validation and audit events are the API's own.

The connection acts as the principal ``itsm:<name>``, which holds no role: it raises and
updates its own changes, submits, cancels, records the work done and closes, but it never
decides. Decisions are taken in golive by the change's authority (docs/itsm.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from golive.auth.service import Actor
from golive.changes import service as changes
from golive.changes.models import ChangeRequest
from golive.changes.rules import ChangeState
from golive.changes.schemas import ChangeCreate, ChangeUpdate
from golive.errors import ConflictError, InvalidInputError
from golive.integrations.itsm import RANKS, Goal, ItsmChange
from golive.integrations.models import ItsmConnection
from golive.inventory.models import Environment, Target

_S = ChangeState
_LISTS = ("environments", "components", "targets")


@dataclass
class BridgeResult:
    """What the bridge did with one record."""

    change: ChangeRequest
    created: bool = False
    done: list[str] = field(default_factory=list)  # created, updated, submit, cancel …
    notes: list[str] = field(default_factory=list)

    def as_dict(self, ignored: list[str]) -> dict[str, Any]:
        return {
            "result": "created" if self.created else ("updated" if self.done else "unchanged"),
            "done": list(self.done),
            "notes": list(self.notes),
            "ignored_fields": ignored,
            "change": self.change.as_dict(),
        }


def actor_for(connection: ItsmConnection) -> Actor:
    # No roles: the connection reaches golive only through the bridge, never the API.
    return Actor(connection.actor_name, frozenset())


def apply(session: Session, connection: ItsmConnection, wanted: ItsmChange) -> BridgeResult:
    """Create or update the change ``wanted`` describes and move it as far as its state says.

    Raises:
        InvalidInputError: the record breaks a rule of change requests.
        NotFoundError: it names environments, targets or components golive does not know.
        ConflictError: the change belongs to someone else, or golive's change cannot be
            edited or moved the way the record asks (the message says why).
        PolicyError: as golive's own submit and close.
    """
    actor = actor_for(connection)
    change = changes.get_by_external_ref(session, wanted.external_ref)
    if change is None:
        result = BridgeResult(_create(session, actor, wanted), created=True, done=["create"])
    else:
        result = BridgeResult(change)
        _update(session, actor, wanted, result)
    _advance(session, actor, wanted, result)
    return result


def _create(session: Session, actor: Actor, wanted: ItsmChange) -> ChangeRequest:
    if wanted.goal is not None and wanted.goal >= Goal.IMPLEMENTED:
        raise ConflictError(
            f"{wanted.external_ref} is new to golive but its state asks for a change that is "
            "already implemented, closed or cancelled; send it while it is new or in assessment",
            details={"external_ref": wanted.external_ref},
        )
    body = dict(wanted.fields)
    if "title" not in body:
        raise InvalidInputError(
            f"short_description is required to raise {wanted.external_ref} in golive",
            details={"field": "short_description"},
        )
    if not body.get("environments"):
        body["environments"] = _environments_of(session, body.get("targets", []))
    if not body["environments"]:
        raise InvalidInputError(
            f"{wanted.external_ref} names no environment: send u_environment, or cmdb_ci "
            "with targets golive knows",
            details={"field": "u_environment"},
        )
    body["external_ref"] = wanted.external_ref
    if wanted.change_type is not None:
        body["type"] = wanted.change_type.value
    if wanted.model is not None:
        body["model"] = wanted.model
    spec = _validated(ChangeCreate, body)
    return changes.create_change(session, actor, spec)


def _environments_of(session: Session, targets: list[str]) -> list[str]:
    if not targets:
        return []
    found = session.scalars(
        select(Environment.name)
        .join(Target, Target.environment_id == Environment.id)
        .where(Target.name.in_(targets))
    )
    return sorted(set(found))


def _update(session: Session, actor: Actor, wanted: ItsmChange, result: BridgeResult) -> None:
    change = result.change
    if change.requester != actor.name:
        raise ConflictError(
            f"change {change.ref} ({wanted.external_ref}) was raised by {change.requester}, "
            f"not through {actor.name}; a connection updates only the changes it raised",
            details={"change": change.ref, "requester": change.requester},
        )
    if wanted.change_type is not None and wanted.change_type.value != change.change_type:
        raise ConflictError(
            f"change {change.ref} is a {change.change_type} change; its type cannot change "
            "(cancel it and raise a new one)",
            details={"change": change.ref, "type": change.change_type},
        )
    spec = _validated(ChangeUpdate, wanted.fields)
    differing = _differences(change, spec)
    if not differing:
        return
    if change.current != _S.DRAFT:
        raise ConflictError(
            f"change {change.ref} is {change.state} in golive; only a draft may be edited, "
            f"and the record changes {', '.join(differing)} (cancel it and raise a new one "
            "to change what was decided)",
            details={"change": change.ref, "state": change.state, "fields": differing},
        )
    changes.update_change(session, actor, change.ref, spec)
    result.done.append("update")


def _differences(change: ChangeRequest, spec: ChangeUpdate) -> list[str]:
    """The fields ``spec`` gives with a value other than the change's."""
    differing = []
    for name in sorted(spec.model_fields_set):
        value = getattr(spec, name)
        if value is None:
            continue
        if name in _LISTS:
            same = sorted(set(value)) == getattr(change, name)
        elif name == "risk":
            same = value.value == change.risk
        elif name == "planned_windows":
            same = [window.stored() for window in value] == change.planned_windows
        elif name == "target_labels":
            same = dict(value) == change.target_labels
        else:
            same = value == getattr(change, name)
        if not same:
            differing.append(name)
    return differing


def _advance(session: Session, actor: Actor, wanted: ItsmChange, result: BridgeResult) -> None:
    """Move the change towards the goal by legal steps only; a goal already reached or
    passed asks for nothing (so a repeated or late record is harmless)."""
    goal = wanted.goal
    change = result.change
    if goal is None:
        return
    current = change.current
    if goal == Goal.CANCELLED:
        if current == _S.CANCELLED:
            return
        reason = wanted.reason or f"cancelled in {actor.name}"
        changes.cancel_change(session, actor, change.ref, reason)
        result.done.append("cancel")
        return
    if current in (_S.REJECTED, _S.CANCELLED):
        raise ConflictError(
            f"change {change.ref} is {current.value} in golive; it cannot go on "
            f"({wanted.external_ref} should be cancelled in the ITSM tool too)",
            details={"change": change.ref, "state": current.value},
        )
    if RANKS[current] >= goal:
        if RANKS[current] > goal:
            result.notes.append(f"golive's change is already {current.value}")
        return
    if current == _S.DRAFT:
        changes.submit_change(session, actor, change.ref)
        result.done.append("submit")
        current = change.current
        if goal == Goal.SUBMITTED:
            return
    if current == _S.SUBMITTED:
        raise ConflictError(
            f"change {change.ref} is submitted and waits for its change authority in golive; "
            "the ITSM bridge does not authorise changes, so it cannot be implemented or "
            "closed yet",
            details={"change": change.ref, "state": current.value},
        )
    if current == _S.AUTHORISED:
        changes.implement_change(session, actor, change.ref, wanted.outcome, wanted.reason)
        result.done.append("implement")
    if goal == Goal.CLOSED:
        changes.close_change(session, actor, change.ref, wanted.reason)
        result.done.append("close")


# golive's field names back to the record's, for error messages.
_SOURCES = {
    "title": "short_description",
    "planned_windows": "start_date/end_date",
    "environments": "u_environment",
    "targets": "cmdb_ci",
    "components": "u_components",
    "model": "u_change_model",
}
Spec = TypeVar("Spec", ChangeCreate, ChangeUpdate)


def _validated(model: type[Spec], body: dict[str, Any]) -> Spec:
    """``body`` checked against the API's own request shape, errors named by the record's
    fields."""
    try:
        return model.model_validate(body, strict=False)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            location = [str(part) for part in error.get("loc", ())]
            if location:
                location[0] = _SOURCES.get(location[0], location[0])
            problems.append({"field": ".".join(location) or "record", "problem": error["msg"]})
        first = problems[0]
        raise InvalidInputError(
            f"{first['field']}: {first['problem']}", details={"problems": problems}
        ) from None
