"""Change control: requests, decisions, authorities, standard models, and the gate that
deployments pass. Every function that changes a record writes its audit event in the
caller's transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.auth.models import Principal
from golive.auth.service import Actor
from golive.changes.models import REF_PREFIX, ChangeApproval, ChangeAuthority, ChangeModel
from golive.changes.models import ChangeRequest as Change
from golive.changes.rules import (
    EDITABLE,
    Authority,
    ChangeState,
    ChangeType,
    Decision,
    Tally,
    Work,
    authorities_for,
    check_transition,
    tally,
    uncovered,
)
from golive.changes.schemas import (
    AuthorityCreate,
    AuthorityUpdate,
    ChangeCreate,
    ChangeUpdate,
    ModelCreate,
    ModelUpdate,
)
from golive.db import utcnow
from golive.errors import (
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
    PolicyError,
)
from golive.inventory.models import Component, Environment, Target

_S = ChangeState
# The audit action for each move (``change.<verb>``).
_VERBS = {
    _S.SUBMITTED: "submit",
    _S.REJECTED: "rejected",
    _S.CANCELLED: "cancel",
    _S.IMPLEMENTED: "implement",
    _S.CLOSED: "close",
}


# --- looking things up ----------------------------------------------------------------


def parse_ref(ref: str) -> int:
    """``CHG-12`` (or ``12``) to 12; InvalidInputError for anything else."""
    text = ref.strip()
    if text.upper().startswith(REF_PREFIX):
        text = text[len(REF_PREFIX) :]
    if not text.isdigit() or len(text) > 18:
        raise InvalidInputError(
            f"{ref!r} is not a change reference; use the form {REF_PREFIX}12",
            details={"change": ref},
        )
    return int(text)


def get_change(session: Session, ref: str, *, for_update: bool = False) -> Change:
    """A change by golive's reference (``CHG-12``) or by its external reference (the ITSM
    tool's number, such as ``CHG0012345``)."""
    text = ref.strip()
    looks_ours = text.upper().startswith(REF_PREFIX) or text.isdigit()
    condition = Change.id == parse_ref(text) if looks_ours else Change.external_ref == text
    query = (
        select(Change)
        .where(condition)
        .options(selectinload(Change.approvals), selectinload(Change.model))
    )
    if for_update:
        query = query.with_for_update()
    found = session.scalars(query).one_or_none()
    if found is None:
        raise NotFoundError(f"change {ref} not found", details={"change": ref})
    return found


def get_by_external_ref(session: Session, external_ref: str) -> Change | None:
    return session.scalars(select(Change).where(Change.external_ref == external_ref)).one_or_none()


def list_changes(
    session: Session,
    *,
    state: ChangeState | None = None,
    change_type: ChangeType | None = None,
    environment: str | None = None,
    limit: int,
    offset: int,
) -> list[Change]:
    query = select(Change).options(selectinload(Change.approvals), selectinload(Change.model))
    if state is not None:
        query = query.where(Change.state == state.value)
    if change_type is not None:
        query = query.where(Change.change_type == change_type.value)
    found = list(session.scalars(query.order_by(Change.id.desc())))
    if environment is not None:
        found = [change for change in found if environment in change.environments]
    return found[offset : offset + limit]


def _require_known(session: Session, model: type[Any], names: Iterable[str], what: str) -> None:
    wanted = sorted(set(names))
    if not wanted:
        return
    known = set(session.scalars(select(model.name).where(model.name.in_(wanted))))
    missing = [name for name in wanted if name not in known]
    if missing:
        raise NotFoundError(f"unknown {what}: {', '.join(missing)}", details={what: missing})


def _require_scope_known(
    session: Session, environments: Iterable[str], components: Iterable[str], targets: Iterable[str]
) -> None:
    _require_known(session, Environment, environments, "environments")
    _require_known(session, Component, components, "components")
    _require_known(session, Target, targets, "targets")


# --- authorities ---------------------------------------------------------------------


def get_authority(session: Session, name: str) -> ChangeAuthority:
    found = session.scalars(
        select(ChangeAuthority).where(ChangeAuthority.name == name)
    ).one_or_none()
    if found is None:
        raise NotFoundError(f"change authority {name!r} not found", details={"authority": name})
    return found


def list_authorities(session: Session) -> list[ChangeAuthority]:
    return list(session.scalars(select(ChangeAuthority).order_by(ChangeAuthority.name)))


def create_authority(session: Session, actor: Actor, spec: AuthorityCreate) -> ChangeAuthority:
    if spec.environment is not None:
        _require_known(session, Environment, [spec.environment], "environments")
    _require_known(session, Principal, spec.principals, "principals")
    if session.scalar(select(ChangeAuthority.id).where(ChangeAuthority.name == spec.name)):
        raise ConflictError(f"change authority {spec.name!r} already exists")
    clash = session.scalars(
        select(ChangeAuthority).where(
            ChangeAuthority.change_type == spec.change_type.value,
            ChangeAuthority.environment.is_(None)
            if spec.environment is None
            else ChangeAuthority.environment == spec.environment,
        )
    ).first()
    if clash is not None:
        where = spec.environment or "every environment"
        raise ConflictError(
            f"{clash.name} already decides {spec.change_type.value} changes for {where}; "
            "update it instead",
            details={"authority": clash.name},
        )
    now = utcnow()
    authority = ChangeAuthority(
        name=spec.name,
        environment=spec.environment,
        change_type=spec.change_type.value,
        roles=sorted(role.value for role in spec.roles),
        principals=sorted(set(spec.principals)),
        quorum=spec.quorum,
        approval_valid_hours=spec.approval_valid_hours,
        created_at=now,
        updated_at=now,
    )
    session.add(authority)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="change_authority.create",
        subject_type="change_authority",
        subject_id=authority.name,
        after=authority.as_dict(),
    )
    return authority


def update_authority(
    session: Session, actor: Actor, name: str, spec: AuthorityUpdate
) -> ChangeAuthority:
    authority = get_authority(session, name)
    before = authority.as_dict()
    given = spec.model_fields_set
    if "roles" in given and spec.roles is not None:
        authority.roles = sorted(role.value for role in spec.roles)
    if "principals" in given and spec.principals is not None:
        _require_known(session, Principal, spec.principals, "principals")
        authority.principals = sorted(set(spec.principals))
    if "quorum" in given and spec.quorum is not None:
        authority.quorum = spec.quorum
    if "approval_valid_hours" in given:
        authority.approval_valid_hours = spec.approval_valid_hours
    if not authority.roles and not authority.principals:
        raise InvalidInputError("an authority needs at least one role or principal who may decide")
    authority.updated_at = utcnow()
    audit.record_update(
        session,
        actor=actor.name,
        subject_type="change_authority",
        subject_id=name,
        before=before,
        after=authority.as_dict(),
    )
    return authority


def delete_authority(session: Session, actor: Actor, name: str) -> None:
    authority = get_authority(session, name)
    before = authority.as_dict()
    session.delete(authority)
    audit.record(
        session,
        actor=actor.name,
        action="change_authority.delete",
        subject_type="change_authority",
        subject_id=name,
        before=before,
    )


def authorities_of(session: Session, change: Change) -> list[Authority]:
    configured = [a.rule for a in list_authorities(session)]
    return authorities_for(configured, change.environments, change.kind)


# --- standard change models ----------------------------------------------------------


def get_model(session: Session, name: str) -> ChangeModel:
    found = session.scalars(select(ChangeModel).where(ChangeModel.name == name)).one_or_none()
    if found is None:
        raise NotFoundError(f"standard change model {name!r} not found", details={"model": name})
    return found


def list_models(session: Session, *, active_only: bool = False) -> list[ChangeModel]:
    query = select(ChangeModel).order_by(ChangeModel.name)
    if active_only:
        query = query.where(ChangeModel.active.is_(True))
    return list(session.scalars(query))


def create_model(session: Session, actor: Actor, spec: ModelCreate) -> ChangeModel:
    _require_scope_known(session, spec.environments, spec.components, spec.targets)
    if session.scalar(select(ChangeModel.id).where(ChangeModel.name == spec.name)):
        raise ConflictError(f"standard change model {spec.name!r} already exists")
    now = utcnow()
    model = ChangeModel(
        name=spec.name,
        description=spec.description,
        environments=sorted(set(spec.environments)),
        components=sorted(set(spec.components)),
        targets=sorted(set(spec.targets)),
        target_labels=dict(spec.target_labels),
        max_targets=spec.max_targets,
        strategies=sorted(set(spec.strategies)),
        active=True,
        created_at=now,
        updated_at=now,
    )
    session.add(model)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="change_model.create",
        subject_type="change_model",
        subject_id=model.name,
        after=model.as_dict(),
    )
    return model


def update_model(session: Session, actor: Actor, name: str, spec: ModelUpdate) -> ChangeModel:
    model = get_model(session, name)
    before = model.as_dict()
    given = spec.model_fields_set
    _require_scope_known(
        session, spec.environments or [], spec.components or [], spec.targets or []
    )
    for field in ("description", "max_targets", "active"):
        if field in given and (getattr(spec, field) is not None or field == "max_targets"):
            setattr(model, field, getattr(spec, field))
    for field in ("environments", "components", "targets", "strategies"):
        value = getattr(spec, field)
        if field in given and value is not None:
            setattr(model, field, sorted(set(value)))
    if "target_labels" in given and spec.target_labels is not None:
        model.target_labels = dict(spec.target_labels)
    model.updated_at = utcnow()
    audit.record_update(
        session,
        actor=actor.name,
        subject_type="change_model",
        subject_id=name,
        before=before,
        after=model.as_dict(),
    )
    return model


# --- change requests ------------------------------------------------------------------


def _record(session: Session, actor: Actor, action: str, change: Change, **extra: Any) -> None:
    audit.record(
        session,
        actor=actor.name,
        action=f"change.{action}",
        subject_type="change",
        subject_id=change.ref,
        **extra,
    )


def _move(
    session: Session,
    actor: Actor,
    change: Change,
    wanted: ChangeState,
    reason: str | None = None,
) -> None:
    check_transition(change.ref, change.current, wanted)
    before = change.state
    now = utcnow()
    change.state = wanted.value
    change.state_reason = reason or None
    change.updated_at = now
    if wanted == _S.SUBMITTED:
        change.submitted_at = now
    elif wanted == _S.IMPLEMENTED:
        change.implemented_at = now
    elif wanted == _S.CLOSED:
        change.closed_at = now
    _record(
        session,
        actor,
        _VERBS[wanted],
        change,
        before={"state": before},
        after={"state": wanted.value},
        reason=reason or None,
    )


def create_change(session: Session, actor: Actor, spec: ChangeCreate) -> Change:
    _require_scope_known(session, spec.environments, spec.components, spec.targets)
    model: ChangeModel | None = None
    if spec.type == ChangeType.STANDARD:
        if spec.model is None:
            raise InvalidInputError(
                "a standard change names its standard change model (model); "
                "for anything else use type normal or emergency"
            )
        model = get_model(session, spec.model)
    elif spec.model is not None:
        raise InvalidInputError("only standard changes have a model")
    override = (spec.freeze_override_reason or "").strip() or None
    if override is not None and spec.type != ChangeType.EMERGENCY:
        raise InvalidInputError(
            "only an emergency change may override freeze windows (freeze_override_reason)"
        )
    if spec.external_ref is not None and get_by_external_ref(session, spec.external_ref):
        raise ConflictError(
            f"a change with external reference {spec.external_ref!r} already exists",
            details={"external_ref": spec.external_ref},
        )
    now = utcnow()
    change = Change(
        change_type=spec.type.value,
        state=_S.DRAFT.value,
        title=spec.title,
        description=spec.description,
        risk=spec.risk.value,
        impact=spec.impact,
        environments=sorted(set(spec.environments)),
        components=sorted(set(spec.components)),
        targets=sorted(set(spec.targets)),
        target_labels=dict(spec.target_labels),
        planned_windows=[window.stored() for window in spec.planned_windows],
        backout_plan=spec.backout_plan,
        freeze_override_reason=override,
        requester=actor.name,
        external_ref=spec.external_ref,
        model=model,
        created_at=now,
        updated_at=now,
        approvals=[],
    )
    session.add(change)
    session.flush()
    _record(session, actor, "create", change, after=change.as_dict(with_approvals=False))
    if spec.submit:
        submit_change(session, actor, change.ref)
    return change


def update_change(session: Session, actor: Actor, ref: str, spec: ChangeUpdate) -> Change:
    change = get_change(session, ref, for_update=True)
    if change.current not in EDITABLE:
        raise ConflictError(
            f"change {change.ref} is {change.state}; only a draft may be edited "
            "(cancel it and raise a new one to change what was decided)",
            details={"change": change.ref, "state": change.state},
        )
    before = change.as_dict(with_approvals=False)
    given = spec.model_fields_set
    _require_scope_known(
        session, spec.environments or [], spec.components or [], spec.targets or []
    )
    for field in ("title", "description", "impact", "backout_plan"):
        value = getattr(spec, field)
        if field in given and value is not None:
            setattr(change, field, value)
    if "risk" in given and spec.risk is not None:
        change.risk = spec.risk.value
    for field in ("environments", "components", "targets"):
        value = getattr(spec, field)
        if field in given and value is not None:
            setattr(change, field, sorted(set(value)))
    if "target_labels" in given and spec.target_labels is not None:
        change.target_labels = dict(spec.target_labels)
    if "planned_windows" in given and spec.planned_windows is not None:
        change.planned_windows = [window.stored() for window in spec.planned_windows]
    if "external_ref" in given and spec.external_ref != change.external_ref:
        if spec.external_ref is not None and get_by_external_ref(session, spec.external_ref):
            raise ConflictError(
                f"a change with external reference {spec.external_ref!r} already exists"
            )
        change.external_ref = spec.external_ref
    change.updated_at = utcnow()
    audit.record_update(
        session,
        actor=actor.name,
        subject_type="change",
        subject_id=change.ref,
        before=before,
        after=change.as_dict(with_approvals=False),
    )
    return change


def submit_change(session: Session, actor: Actor, ref: str) -> Change:
    """Ask for authorisation. A standard change inside its model's scope is authorised
    at once by its model; a normal change must say when it is planned."""
    change = get_change(session, ref, for_update=True)
    needs_window = change.kind == ChangeType.NORMAL and change.current == _S.DRAFT
    if needs_window and not change.planned_windows:
        raise PolicyError(
            f"change {change.ref} has no planned window; a normal change says when the "
            "work is planned (planned_windows) before it is submitted",
            details={"change": change.ref},
        )
    _move(session, actor, change, _S.SUBMITTED)
    if change.kind == ChangeType.STANDARD:
        _authorise_by_model(session, actor, change)
    return change


def _authorise_by_model(session: Session, actor: Actor, change: Change) -> None:
    model = change.model
    if model is None or not model.active:
        raise PolicyError(
            f"standard change {change.ref} has no active standard change model",
            details={"change": change.ref},
        )
    problems = _scope_problems(model, change)
    if problems:
        raise PolicyError(
            f"change {change.ref} is outside standard change model {model.name}: "
            + "; ".join(problems)
            + ". Raise a normal change instead.",
            details={"change": change.ref, "model": model.name, "problems": problems},
        )
    _authorise(session, actor, change, None, by=f"standard change model {model.name}")


def _scope_problems(model: ChangeModel, change: Change) -> list[str]:
    scope = model.scope
    problems = [
        f"environment {name} is not in its scope"
        for name in change.environments
        if name not in scope.environments
    ]
    outside = sorted(set(change.components) - scope.components)
    if outside:
        problems.append(f"component(s) {', '.join(outside)} are not in its scope")
    if scope.targets:
        strays = sorted(set(change.targets) - scope.targets)
        if strays or not change.targets:
            problems.append("its targets are not all in the model's scope")
    return problems


def _authorise(
    session: Session, actor: Actor, change: Change, until: datetime | None, *, by: str
) -> None:
    check_transition(change.ref, change.current, _S.AUTHORISED)
    now = utcnow()
    change.state = _S.AUTHORISED.value
    change.authorised_at = now
    change.authorised_until = until
    change.updated_at = now
    _record(
        session,
        actor,
        "authorise",
        change,
        before={"state": _S.SUBMITTED.value},
        after={"state": _S.AUTHORISED.value, "authorised_until": _iso(until), "by": by},
    )


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def standing(session: Session, change: Change, now: datetime | None = None) -> Tally:
    """Where the change's decisions stand now, against its authorities."""
    return tally(authorities_of(session, change), change.votes, now or utcnow())


def decide(
    session: Session, actor: Actor, ref: str, decision: Decision, reason: str = ""
) -> Change:
    """Record one person's decision; authorise or reject when the authorities agree."""
    change = get_change(session, ref, for_update=True)
    if change.kind == ChangeType.STANDARD:
        raise ConflictError(
            f"change {change.ref} is a standard change: its model authorises it, "
            "nobody decides on it"
        )
    if change.current not in (_S.SUBMITTED, _S.AUTHORISED):
        raise ConflictError(
            f"change {change.ref} is {change.state}; decisions are taken on submitted "
            "changes (or to renew the approval of an authorised one)",
            details={"change": change.ref, "state": change.state},
        )
    if change.current == _S.AUTHORISED and decision == Decision.REJECT:
        raise ConflictError(
            f"change {change.ref} is already authorised; cancel it instead of rejecting it"
        )
    if actor.name == change.requester:
        raise PermissionDeniedError(
            f"{actor.name} requested change {change.ref} and may not decide on it; "
            "another member of its change authority must",
            details={"change": change.ref, "requester": change.requester},
        )
    authorities = authorities_of(session, change)
    roles = [role.value for role in actor.roles]
    admitting = [a for a in authorities if a.admits(actor.name, roles)]
    if not admitting:
        named = "; ".join(_who(a) for a in authorities)
        raise PermissionDeniedError(
            f"{actor.name} is not in the change authority for change {change.ref} ({named})",
            details={
                "change": change.ref,
                "authorities": [a.name for a in authorities],
                "roles_needed": sorted(set().union(*(a.roles for a in authorities))),
                "principals_named": sorted(set().union(*(a.principals for a in authorities))),
            },
        )
    if decision == Decision.REJECT and not reason.strip():
        raise InvalidInputError("a rejection needs a reason (reason)")
    now = utcnow()
    lifetimes = [a.approval_valid_for for a in admitting if a.approval_valid_for is not None]
    expires = now + min(lifetimes) if lifetimes and decision == Decision.APPROVE else None
    approval = ChangeApproval(
        change=change,
        principal=actor.name,
        decision=decision.value,
        roles=sorted(roles),
        reason=reason,
        decided_at=now,
        expires_at=expires,
    )
    session.add(approval)
    session.flush()
    _record(
        session,
        actor,
        decision.value,
        change,
        after={"decision": decision.value, "expires_at": _iso(expires)},
        reason=reason or None,
    )
    result = standing(session, change, now)
    if result.rejected_by is not None:
        _move(session, actor, change, _S.REJECTED, reason)
    elif result.authorised and change.current == _S.SUBMITTED:
        _authorise(session, actor, change, result.valid_until, by="change authority")
    elif result.authorised:  # renewed: the authorisation now lasts longer
        change.authorised_until = result.valid_until
        change.updated_at = now
    return change


def _who(authority: Authority) -> str:
    parts = [f"role {role}" for role in sorted(authority.roles)]
    parts += [f"principal {name}" for name in sorted(authority.principals)]
    return f"{authority.name}: {authority.quorum} of {', '.join(parts)}"


def cancel_change(session: Session, actor: Actor, ref: str, reason: str) -> Change:
    change = get_change(session, ref, for_update=True)
    if not reason.strip():
        raise InvalidInputError("cancelling a change needs a reason (reason)")
    _move(session, actor, change, _S.CANCELLED, reason)
    return change


def implement_change(
    session: Session, actor: Actor, ref: str, outcome: str, reason: str = ""
) -> Change:
    """Mark the work done with its outcome; an emergency change is flagged for review."""
    change = get_change(session, ref, for_update=True)
    _move(session, actor, change, _S.IMPLEMENTED, reason or None)
    change.outcome = outcome
    if change.kind == ChangeType.EMERGENCY:
        change.review_required = True
    return change


def close_change(session: Session, actor: Actor, ref: str, reason: str = "") -> Change:
    change = get_change(session, ref, for_update=True)
    if change.review_required and change.reviewed_at is None:
        raise PolicyError(
            f"emergency change {change.ref} has not been reviewed yet; "
            f"review it first (golive changes review {change.ref})",
            details={"change": change.ref},
        )
    _move(session, actor, change, _S.CLOSED, reason or None)
    return change


def review_change(session: Session, actor: Actor, ref: str, notes: str) -> Change:
    """Record the review after implementation that every emergency change gets."""
    change = get_change(session, ref, for_update=True)
    if not change.review_required:
        raise ConflictError(
            f"change {change.ref} needs no review (only implemented emergency changes do)"
        )
    if change.reviewed_at is not None:
        raise ConflictError(f"change {change.ref} was reviewed by {change.reviewed_by} already")
    if actor.name == change.requester:
        raise PermissionDeniedError(
            f"{actor.name} requested change {change.ref}; someone else reviews it"
        )
    if not notes.strip():
        raise InvalidInputError("a review needs notes (reason)")
    now = utcnow()
    change.reviewed_by = actor.name
    change.reviewed_at = now
    change.review_notes = notes
    change.updated_at = now
    _record(session, actor, "review", change, after={"reviewed_by": actor.name}, reason=notes)
    return change


def inbox(session: Session, actor: Actor, *, limit: int, offset: int) -> list[Change]:
    """Submitted changes this actor may decide on and has not decided yet."""
    roles = [role.value for role in actor.roles]
    waiting = session.scalars(
        select(Change)
        .where(Change.state == _S.SUBMITTED.value, Change.change_type != "standard")
        .options(selectinload(Change.approvals), selectinload(Change.model))
        .order_by(Change.id)
    )
    mine = [
        change
        for change in waiting
        if change.requester != actor.name
        and not any(a.principal == actor.name for a in change.approvals)
        and any(a.admits(actor.name, roles) for a in authorities_of(session, change))
    ]
    return mine[offset : offset + limit]


def count_by_state(session: Session) -> dict[str, int]:
    rows = session.execute(select(Change.state, func.count(Change.id)).group_by(Change.state))
    return {row[0]: int(row[1]) for row in rows}


# --- the gate --------------------------------------------------------------------------


@dataclass(frozen=True)
class Clearance:
    """Why a deployment may go ahead: the change it runs under (None: none needed)."""

    change: Change | None
    automatic: bool = False  # authorised now by a standard change model


def clear_deployment(
    session: Session,
    actor: Actor,
    environment: Environment,
    change_ref: str | None,
    work: Work,
    now: datetime | None = None,
) -> Clearance:
    """The change-control gate between planned and running.

    Raises:
        PolicyError: the environment needs an authorised change and there is none
            that covers the work; the sentence says what is needed.
    """
    moment = now or utcnow()
    if change_ref is None:
        if not environment.policy.get("requires_change"):
            return Clearance(None)
        model = _covering_model(session, work)
        if model is None:
            raise PolicyError(
                f"environment {environment.name} requires an authorised change: link one "
                "with --change CHG-n (golive changes create … --submit, then have its "
                "change authority approve it), or stay inside a standard change model",
                details={"environment": environment.name},
            )
        return Clearance(_standard_change_for(session, actor, model, work), automatic=True)
    change = get_change(session, change_ref)
    problems = uncovered(change.scope, work)
    if problems:
        raise PolicyError(
            f"change {change.ref} does not cover this deployment: " + "; ".join(problems),
            details={"change": change.ref, "problems": problems},
        )
    if change.current != _S.AUTHORISED:
        raise PolicyError(
            f"change {change.ref} is {change.state}, not authorised; "
            + _what_next(session, change, moment),
            details={"change": change.ref, "state": change.state},
        )
    if change.authorised_until is not None and change.authorised_until <= moment:
        raise PolicyError(
            f"the approvals of change {change.ref} expired at "
            f"{change.authorised_until.isoformat()}; its change authority must approve it again",
            details={"change": change.ref},
        )
    return Clearance(change)


def _what_next(session: Session, change: Change, now: datetime) -> str:
    if change.current == _S.DRAFT:
        return f"submit it (golive changes submit {change.ref})"
    if change.current == _S.SUBMITTED:
        return standing(session, change, now).describe()
    return "raise a new change"


def _covering_model(session: Session, work: Work) -> ChangeModel | None:
    for model in list_models(session, active_only=True):
        if not uncovered(model.scope, work):
            return model
    return None


def _standard_change_for(session: Session, actor: Actor, model: ChangeModel, work: Work) -> Change:
    """Raise, submit and authorise a standard change recording this work."""
    spec = ChangeCreate.model_validate(
        {
            "type": "standard",
            "title": f"{', '.join(sorted(work.components))} to {work.environment} "
            f"under {model.name}",
            "risk": "low",
            "environments": [work.environment],
            "components": sorted(work.components),
            "targets": sorted(work.targets),
            "model": model.name,
        },
        strict=False,
    )
    change = create_change(session, actor, spec)
    return submit_change(session, actor, change.ref)


def finish_for_deployment(
    session: Session, actor: Actor, change: Change, outcome: str, note: str
) -> None:
    """A deployment under ``change`` has finished: the change is implemented."""
    if change.current == _S.AUTHORISED:
        implement_change(session, actor, change.ref, outcome, note)


def summaries(changes: Sequence[Change]) -> list[dict[str, Any]]:
    return [change.as_dict() for change in changes]
