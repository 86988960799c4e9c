"""Hardware store records: hardware models (what may be stocked) and items (what is held)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.db import Base, UTCDateTime, utcnow
from golive.hardware.rules import ItemState, next_states
from golive.inventory.models import Target


class HardwareModel(Base):
    """A kind of hardware the store holds, with the stock level it must not fall below."""

    __tablename__ = "hardware_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    vendor: Mapped[str] = mapped_column(String(200))
    model: Mapped[str] = mapped_column(String(200))
    specification: Mapped[dict[str, str]] = mapped_column(JSON)
    minimum_stock: Mapped[int] = mapped_column(Integer, default=0)
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "vendor": self.vendor,
            "model": self.model,
            "specification": dict(sorted(self.specification.items())),
            "minimum_stock": self.minimum_stock,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class HardwareItem(Base):
    """One physical item, known by its serial number, built and held for deployment."""

    __tablename__ = "hardware_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    serial: Mapped[str] = mapped_column(String(128), unique=True)
    asset_tag: Mapped[str | None] = mapped_column(String(64), unique=True, nullable=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("hardware_models.id", ondelete="RESTRICT"), index=True
    )
    build: Mapped[dict[str, str]] = mapped_column(JSON)
    store_location: Mapped[str] = mapped_column(String(200))
    state: Mapped[str] = mapped_column(String(16), index=True)
    reserved_for_target_id: Mapped[int | None] = mapped_column(
        ForeignKey("targets.id", ondelete="RESTRICT"), index=True, nullable=True
    )
    state_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    model: Mapped[HardwareModel] = relationship()
    reserved_for_target: Mapped[Target | None] = relationship()

    def as_dict(self) -> dict[str, Any]:
        target = self.reserved_for_target
        return {
            "serial": self.serial,
            "asset_tag": self.asset_tag,
            "model": self.model.name,
            "build": dict(sorted(self.build.items())),
            "store_location": self.store_location,
            "state": self.state,
            "target": target.name if target is not None else None,
            "state_reason": self.state_reason,
            "next_states": [state.value for state in next_states(ItemState(self.state))],
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }
