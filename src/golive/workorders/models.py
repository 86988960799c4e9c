"""Work order records: one per assignment on a manual target."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.agents.models import Assignment
from golive.db import Base, UTCDateTime, utcnow


class WorkOrderState(StrEnum):
    OPEN = "open"
    COMPLETED = "completed"
    FAILED = "failed"


class WorkOrder(Base):
    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    assignment_id: Mapped[int] = mapped_column(
        ForeignKey("assignments.id", ondelete="RESTRICT"), unique=True
    )
    title: Mapped[str] = mapped_column(String(200))
    instructions: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str | None] = mapped_column(String(255), nullable=True)
    checklist: Mapped[list[str]] = mapped_column(JSON)
    evidence_required: Mapped[list[str]] = mapped_column(JSON)
    assigned_role: Mapped[str] = mapped_column(String(32), index=True)
    hardware_serial: Mapped[str | None] = mapped_column(String(128), nullable=True)
    state: Mapped[str] = mapped_column(String(16), index=True)
    checked: Mapped[list[int]] = mapped_column(JSON)
    evidence: Mapped[dict[str, str]] = mapped_column(JSON)
    outcome_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    assignment: Mapped[Assignment] = relationship()

    def as_dict(self) -> dict[str, Any]:
        assignment = self.assignment
        return {
            "id": self.id,
            "assignment_id": self.assignment_id,
            "assignment_state": assignment.state,
            "target": assignment.target.name,
            "component": assignment.component.name,
            "version": assignment.version.version,
            "action": assignment.action,
            "title": self.title,
            "instructions": self.instructions,
            "location": self.location,
            "checklist": [
                {"item": index, "text": text, "done": index in self.checked}
                for index, text in enumerate(self.checklist, start=1)
            ],
            "evidence_required": list(self.evidence_required),
            "evidence": dict(self.evidence),
            "assigned_role": self.assigned_role,
            "hardware_serial": self.hardware_serial,
            "state": self.state,
            "outcome_reason": self.outcome_reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "closed_by": self.closed_by,
            "closed_at": self.closed_at.isoformat() if self.closed_at else None,
        }
