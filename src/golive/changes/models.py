"""Change control records: change requests, their decisions, change authorities and
standard change models."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.changes.rules import (
    Authority,
    ChangeState,
    ChangeType,
    Decision,
    Scope,
    Vote,
    next_states,
)
from golive.db import Base, UTCDateTime, iso, utcnow

REF_PREFIX = "CHG-"


class ChangeModel(Base):
    """A standard change: a pre-authorised template with a scope."""

    __tablename__ = "change_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    environments: Mapped[list[str]] = mapped_column(JSON)
    components: Mapped[list[str]] = mapped_column(JSON)
    targets: Mapped[list[str]] = mapped_column(JSON)
    target_labels: Mapped[dict[str, str]] = mapped_column(JSON)
    max_targets: Mapped[int | None] = mapped_column(Integer, nullable=True)
    strategies: Mapped[list[str]] = mapped_column(JSON)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def scope(self) -> Scope:
        return Scope(
            environments=frozenset(self.environments),
            components=frozenset(self.components),
            targets=frozenset(self.targets),
            target_labels=dict(self.target_labels),
            max_targets=self.max_targets,
            strategies=frozenset(self.strategies),
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "environments": sorted(self.environments),
            "components": sorted(self.components),
            "targets": sorted(self.targets),
            "target_labels": dict(sorted(self.target_labels.items())),
            "max_targets": self.max_targets,
            "strategies": sorted(self.strategies),
            "active": self.active,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class ChangeAuthority(Base):
    """Who decides changes of one type in one environment (or in any, when unnamed)."""

    __tablename__ = "change_authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    environment: Mapped[str | None] = mapped_column(String(63), nullable=True, index=True)
    change_type: Mapped[str] = mapped_column(String(16))
    roles: Mapped[list[str]] = mapped_column(JSON)
    principals: Mapped[list[str]] = mapped_column(JSON)
    quorum: Mapped[int] = mapped_column(Integer, default=1)
    approval_valid_hours: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def rule(self) -> Authority:
        valid = self.approval_valid_hours
        return Authority(
            name=self.name,
            environment=self.environment,
            change_type=ChangeType(self.change_type),
            roles=frozenset(self.roles),
            principals=frozenset(self.principals),
            quorum=self.quorum,
            approval_valid_for=timedelta(hours=valid) if valid is not None else None,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "environment": self.environment,
            "change_type": self.change_type,
            "roles": sorted(self.roles),
            "principals": sorted(self.principals),
            "quorum": self.quorum,
            "approval_valid_hours": self.approval_valid_hours,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class ChangeRequest(Base):
    __tablename__ = "change_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_type: Mapped[str] = mapped_column(String(16), index=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    risk: Mapped[str] = mapped_column(String(8))
    impact: Mapped[str] = mapped_column(Text, default="")
    environments: Mapped[list[str]] = mapped_column(JSON)
    components: Mapped[list[str]] = mapped_column(JSON)
    targets: Mapped[list[str]] = mapped_column(JSON)
    target_labels: Mapped[dict[str, str]] = mapped_column(JSON)
    # [{"start": iso, "end": iso, "tz": "Europe/London"}], start/end in UTC
    planned_windows: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    backout_plan: Mapped[str] = mapped_column(Text, default="")
    # Emergency changes only: why their work may run inside deny (freeze) windows.
    freeze_override_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    requester: Mapped[str] = mapped_column(String(128), index=True)
    external_ref: Mapped[str | None] = mapped_column(String(128), unique=True, nullable=True)
    model_id: Mapped[int | None] = mapped_column(
        ForeignKey("change_models.id", ondelete="RESTRICT"), nullable=True
    )
    state_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    authorised_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    authorised_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    outcome: Mapped[str | None] = mapped_column(String(32), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_required: Mapped[bool] = mapped_column(Boolean, default=False)
    reviewed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    review_notes: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    model: Mapped[ChangeModel | None] = relationship()
    approvals: Mapped[list[ChangeApproval]] = relationship(
        back_populates="change", order_by="ChangeApproval.id"
    )

    @property
    def ref(self) -> str:
        return f"{REF_PREFIX}{self.id}"

    @property
    def current(self) -> ChangeState:
        return ChangeState(self.state)

    @property
    def kind(self) -> ChangeType:
        return ChangeType(self.change_type)

    @property
    def scope(self) -> Scope:
        return Scope(
            environments=frozenset(self.environments),
            components=frozenset(self.components),
            targets=frozenset(self.targets),
            target_labels=dict(self.target_labels),
        )

    @property
    def votes(self) -> list[Vote]:
        return [approval.vote for approval in self.approvals]

    def as_dict(self, with_approvals: bool = True) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "ref": self.ref,
            "id": self.id,
            "type": self.change_type,
            "state": self.state,
            "next_states": [state.value for state in next_states(self.current)],
            "title": self.title,
            "description": self.description,
            "risk": self.risk,
            "impact": self.impact,
            "environments": sorted(self.environments),
            "components": sorted(self.components),
            "targets": sorted(self.targets),
            "target_labels": dict(sorted(self.target_labels.items())),
            "planned_windows": self.planned_windows,
            "backout_plan": self.backout_plan,
            "freeze_override_reason": self.freeze_override_reason,
            "requester": self.requester,
            "external_ref": self.external_ref,
            "model": self.model.name if self.model is not None else None,
            "state_reason": self.state_reason,
            "submitted_at": iso(self.submitted_at),
            "authorised_at": iso(self.authorised_at),
            "authorised_until": iso(self.authorised_until),
            "implemented_at": iso(self.implemented_at),
            "outcome": self.outcome,
            "closed_at": iso(self.closed_at),
            "review_required": self.review_required,
            "reviewed_by": self.reviewed_by,
            "reviewed_at": iso(self.reviewed_at),
            "review_notes": self.review_notes,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
        if with_approvals:
            shown["approvals"] = [approval.as_dict() for approval in self.approvals]
        return shown


class ChangeApproval(Base):
    """One person's decision on a change: approve (until it expires) or reject."""

    __tablename__ = "change_approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(
        ForeignKey("change_requests.id", ondelete="RESTRICT"), index=True
    )
    principal: Mapped[str] = mapped_column(String(128))
    decision: Mapped[str] = mapped_column(String(8))
    roles: Mapped[list[str]] = mapped_column(JSON)  # held when deciding
    reason: Mapped[str] = mapped_column(Text, default="")
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    change: Mapped[ChangeRequest] = relationship(back_populates="approvals")

    @property
    def vote(self) -> Vote:
        return Vote(
            principal=self.principal,
            decision=Decision(self.decision),
            decided_at=self.decided_at,
            expires_at=self.expires_at,
            roles=frozenset(self.roles),
            reason=self.reason,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "decision": self.decision,
            "roles": sorted(self.roles),
            "reason": self.reason,
            "decided_at": self.decided_at.isoformat(),
            "expires_at": iso(self.expires_at),
        }


class WindowRecord(Base):
    """A stored allow (maintenance) or deny (blackout, freeze) window; the arithmetic lives
    in ``golive.changes.windows``."""

    __tablename__ = "windows"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    kind: Mapped[str] = mapped_column(String(8), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tz: Mapped[str] = mapped_column(String(64))
    # Local wall-clock times without an offset (ISO 8601), read in ``tz``.
    start_local: Mapped[str] = mapped_column(String(32))
    end_local: Mapped[str | None] = mapped_column(String(32), nullable=True)
    duration_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rrule: Mapped[str | None] = mapped_column(Text, nullable=True)
    exdates: Mapped[list[str]] = mapped_column(JSON)
    environments: Mapped[list[str]] = mapped_column(JSON)
    components: Mapped[list[str]] = mapped_column(JSON)
    target_labels: Mapped[dict[str, str]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "tz": self.tz,
            "start": self.start_local,
            "end": self.end_local,
            "duration_seconds": self.duration_seconds,
            "rrule": self.rrule,
            "exdates": list(self.exdates),
            "environments": sorted(self.environments),
            "components": sorted(self.components),
            "target_labels": dict(sorted(self.target_labels.items())),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
