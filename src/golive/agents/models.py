"""Agent records: enrollment tokens, agent credentials, each target's agent state, the
assignments sent to targets with their history, and what is installed where.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.agents.rules import AssignmentState
from golive.db import Base, UTCDateTime, iso, utcnow
from golive.inventory.models import Component, Environment, Target
from golive.media.models import Version


class EnrollmentToken(Base):
    """A ``gle_`` secret (stored as sha256) that lets agents register into one environment."""

    __tablename__ = "enrollment_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="RESTRICT"), index=True
    )
    labels: Mapped[dict[str, str]] = mapped_column(JSON)
    organisation: Mapped[str | None] = mapped_column(String(63), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    environment: Mapped[Environment] = relationship()

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prefix": self.prefix,
            "environment": self.environment.name,
            "labels": dict(sorted(self.labels.items())),
            "organisation": self.organisation,
            "expires_at": iso(self.expires_at),
            "revoked_at": iso(self.revoked_at),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


class AgentCredential(Base):
    """A ``gla_`` secret (stored as sha256) bound to one target and the agent's public key."""

    __tablename__ = "agent_credentials"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    public_key: Mapped[str] = mapped_column(Text)
    enrollment_token_id: Mapped[int | None] = mapped_column(
        ForeignKey("enrollment_tokens.id", ondelete="SET NULL"), index=True, nullable=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class AgentState(Base):
    """What the server knows of one target's agent; kept apart from ``targets``.

    ``desired_generation`` moves on whenever any assignment of the target changes: with
    the target id it makes the ETag of the agent's check-in.
    """

    __tablename__ = "agent_states"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    desired_generation: Mapped[int] = mapped_column(Integer, default=0)
    inventory: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    inventory_digest: Mapped[str | None] = mapped_column(String(64), nullable=True)
    facts: Mapped[dict[str, Any]] = mapped_column(JSON)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_report_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Indexed: waiting check-ins find the targets that changed lately by it (waiting.py).
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class Assignment(Base):
    """One target's part in a deployment: install or remove one version of one component."""

    __tablename__ = "assignments"
    __table_args__ = (Index("ix_assignments_target_state", "target_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # The deployment engine comes later; its table gets the foreign key then.
    deployment_id: Mapped[int | None] = mapped_column(Integer, index=True, nullable=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="RESTRICT"), index=True
    )
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    state: Mapped[str] = mapped_column(String(16), index=True)
    hooks: Mapped[dict[str, str]] = mapped_column(JSON)
    hook_timeout_seconds: Mapped[int] = mapped_column(Integer)
    keep_releases: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # While the SSH executor carries it out, the executor renews this; an unfinished
    # assignment whose lease ran out was interrupted (its process died) and is run again.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    target: Mapped[Target] = relationship()
    component: Mapped[Component] = relationship()
    version: Mapped[Version] = relationship()
    events: Mapped[list[AssignmentEvent]] = relationship(
        back_populates="assignment", order_by="AssignmentEvent.id"
    )

    @property
    def is_terminal(self) -> bool:
        return AssignmentState(self.state).is_terminal

    def as_dict(self, *, with_events: bool = False) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "deployment_id": self.deployment_id,
            "target": self.target.name,
            "component": self.component.name,
            "version": self.version.version,
            "digest": self.version.digest,
            "action": self.action,
            "state": self.state,
            "hooks": dict(self.hooks),
            "hook_timeout_seconds": self.hook_timeout_seconds,
            "keep_releases": self.keep_releases,
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "finished_at": iso(self.finished_at),
        }
        if with_events:
            shown["output"] = self.output
            shown["events"] = [event.as_dict() for event in self.events]
        return shown


class AssignmentEvent(Base):
    """One state change of an assignment: when, who said so, and why."""

    __tablename__ = "assignment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="CASCADE"), index=True
    )
    from_state: Mapped[str | None] = mapped_column(String(16), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    actor: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    output: Mapped[str | None] = mapped_column(Text, nullable=True)
    reported_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    assignment: Mapped[Assignment] = relationship(back_populates="events")

    def as_dict(self) -> dict[str, Any]:
        return {
            "from_state": self.from_state,
            "state": self.state,
            "actor": self.actor,
            "reason": self.reason,
            "output": self.output,
            "reported_at": iso(self.reported_at),
            "recorded_at": self.recorded_at.isoformat(),
        }


class Installed(Base):
    """The version of a component currently installed on a target, as golive recorded it."""

    __tablename__ = "installed"
    __table_args__ = (
        UniqueConstraint("target_id", "component_id", name="uq_installed_target_component"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"))
    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="RESTRICT"), index=True
    )
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT"), index=True
    )
    digest: Mapped[str] = mapped_column(String(64))
    installed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL"), index=True, nullable=True
    )
    deployment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)

    target: Mapped[Target] = relationship()
    component: Mapped[Component] = relationship()
    version: Mapped[Version] = relationship()

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.name,
            "component": self.component.name,
            "version": self.version.version,
            "digest": self.digest,
            "installed_at": self.installed_at.isoformat(),
            "assignment_id": self.assignment_id,
            "deployment_id": self.deployment_id,
        }


class InstallRecord(Base):
    """History: a version installed, removed, failed or rolled back on a target."""

    __tablename__ = "install_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"), index=True)
    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="RESTRICT"), index=True
    )
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    outcome: Mapped[str] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    assignment_id: Mapped[int | None] = mapped_column(
        ForeignKey("assignments.id", ondelete="SET NULL"), index=True, nullable=True
    )
    deployment_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    actor: Mapped[str] = mapped_column(String(128))
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    target: Mapped[Target] = relationship()
    component: Mapped[Component] = relationship()
    version: Mapped[Version] = relationship()

    def as_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.name,
            "component": self.component.name,
            "version": self.version.version,
            "digest": self.digest,
            "action": self.action,
            "outcome": self.outcome,
            "assignment_id": self.assignment_id,
            "deployment_id": self.deployment_id,
            "reason": self.reason,
            "actor": self.actor,
            "recorded_at": self.recorded_at.isoformat(),
        }
