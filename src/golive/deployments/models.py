"""Deployment records: the deployment with its plan and progress, its versions, its events.

The progress the strategies need (DeploymentProgress) is kept on the deployment row as
JSON (wave moments, confirmations, offline targets, rollback and superseded assignment
ids) so that one row lock covers one deployment's whole step; each target's state lives
in its assignments (agents/models.py), which carry the deployment id.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.db import Base, UTCDateTime, iso, utcnow
from golive.inventory.models import Component, Environment
from golive.media.models import Version


class DeploymentState(StrEnum):
    PLANNED = "planned"
    RUNNING = "running"
    PAUSED = "paused"
    WAITING_FOR_CONFIRMATION = "waiting_for_confirmation"
    WAITING_FOR_WINDOW = "waiting_for_window"
    HALTED = "halted"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    ABORTED = "aborted"

    @property
    def is_final(self) -> bool:
        return self in FINAL


FINAL = frozenset(
    {
        DeploymentState.SUCCEEDED,
        DeploymentState.FAILED,
        DeploymentState.ROLLED_BACK,
        DeploymentState.ABORTED,
    }
)
ACTIVE = frozenset(state for state in DeploymentState if state not in FINAL)


class Deployment(Base):
    """Moving one or more versions to a set of targets in one environment with one strategy."""

    __tablename__ = "deployments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    environment_id: Mapped[int] = mapped_column(
        ForeignKey("environments.id", ondelete="RESTRICT"), index=True
    )
    action: Mapped[str] = mapped_column(String(16))
    selector: Mapped[dict[str, Any]] = mapped_column(JSON)
    strategy: Mapped[str] = mapped_column(String(16))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The plan: one list of target names per wave, in wave order.
    waves: Mapped[list[list[str]]] = mapped_column(JSON)
    hooks: Mapped[dict[str, str]] = mapped_column(JSON)
    hook_timeout_seconds: Mapped[int] = mapped_column(Integer)
    change_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    release_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(32), index=True)
    reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    waiting_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    # Progress (strategies.DeploymentProgress): wave index (as text) → ISO moment, etc.
    wave_started: Mapped[dict[str, str]] = mapped_column(JSON)
    wave_finished: Mapped[dict[str, str]] = mapped_column(JSON)
    confirmed: Mapped[list[int]] = mapped_column(JSON)
    offline_since: Mapped[dict[str, str]] = mapped_column(JSON)
    abort_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    rollback_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # Target name → ids of the assignments that put it back on its last known-good version.
    rollback_assignments: Mapped[dict[str, list[int]]] = mapped_column(JSON)
    # Ids of failed assignments a retry replaced; they no longer speak for their target.
    superseded: Mapped[list[int]] = mapped_column(JSON)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    environment: Mapped[Environment] = relationship()
    versions: Mapped[list[DeploymentVersion]] = relationship(
        back_populates="deployment",
        order_by="DeploymentVersion.position",
        cascade="all, delete-orphan",
    )

    @property
    def is_final(self) -> bool:
        return DeploymentState(self.state).is_final

    @property
    def refs(self) -> list[str]:
        return [f"{item.component.name}@{item.version.version}" for item in self.versions]

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "versions": self.refs,
            "environment": self.environment.name,
            "action": self.action,
            "targets": self.selector,
            "strategy": self.strategy,
            "params": dict(self.params),
            "waves": [list(names) for names in self.waves],
            "change_ref": self.change_ref,
            "release_ref": self.release_ref,
            "state": self.state,
            "reason": self.reason,
            "planned_start": iso(self.planned_start),
            "started_at": iso(self.started_at),
            "finished_at": iso(self.finished_at),
            "waiting_until": iso(self.waiting_until),
            "confirmed": sorted(self.confirmed),
            "abort_requested": self.abort_requested,
            "rollback_requested": self.rollback_requested,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class DeploymentVersion(Base):
    """One component version a deployment moves (one per component)."""

    __tablename__ = "deployment_versions"
    __table_args__ = (
        UniqueConstraint("deployment_id", "component_id", name="uq_deployment_versions_component"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="RESTRICT"), index=True
    )
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)

    deployment: Mapped[Deployment] = relationship(back_populates="versions")
    component: Mapped[Component] = relationship()
    version: Mapped[Version] = relationship()


class DeploymentEvent(Base):
    """One entry of a deployment's history: created, a wave dispatched, halted, completed…"""

    __tablename__ = "deployment_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    kind: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)

    def as_dict(self) -> dict[str, Any]:
        return {"at": self.at.isoformat(), "kind": self.kind, "detail": dict(self.detail)}
