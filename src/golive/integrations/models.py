"""Records of integrations: ITSM connections, webhook subscriptions, their deliveries and
the cursor with which the webhook tailer follows the audit chain."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.db import Base, UTCDateTime, iso, utcnow

ITSM_ACTOR_PREFIX = "itsm:"
_SEQ = BigInteger().with_variant(Integer, "sqlite")


class ItsmConnection(Base):
    """An external service management tool allowed to raise and update change requests."""

    __tablename__ = "itsm_connections"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    secret_sealed: Mapped[str] = mapped_column(Text)  # golive.integrations.sealing
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    @property
    def actor_name(self) -> str:
        """How the records name what this connection did."""
        return f"{ITSM_ACTOR_PREFIX}{self.name}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "actor": self.actor_name,
            "active": self.active,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class Webhook(Base):
    """A subscription: audit events whose action matches ``events`` are posted to ``url``."""

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)
    url: Mapped[str] = mapped_column(String(2048))
    secret_sealed: Mapped[str] = mapped_column(Text)
    # After a rotation with an overlap, the old secret still signs deliveries (next to
    # the new one) until this moment, so receivers can switch at their own pace.
    previous_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    previous_secret_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    events: Mapped[list[str]] = mapped_column(JSON)  # patterns: change.*, deployment.failed
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # Events up to this audit sequence number happened before the subscription existed.
    since_seq: Mapped[int] = mapped_column(_SEQ)
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def signing_secrets(self, now: datetime) -> list[str]:
        """The sealed secrets that sign a delivery at ``now``: the current one, then the
        previous one while a rotation's overlap lasts."""
        sealed = [self.secret_sealed]
        until = self.previous_secret_until
        if self.previous_secret_sealed is not None and until is not None and until > now:
            sealed.append(self.previous_secret_sealed)
        return sealed

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "url": self.url,
            "events": list(self.events),
            "active": self.active,
            "since_seq": self.since_seq,
            "previous_secret_until": iso(self.previous_secret_until),
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


class WebhookDelivery(Base):
    """One audit event on its way to one subscriber, with every attempt made."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("webhook_id", "audit_seq", name="uq_webhook_deliveries_event"),
        Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    webhook_id: Mapped[int] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True
    )
    audit_seq: Mapped[int] = mapped_column(_SEQ)
    event: Mapped[str] = mapped_column(String(128))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # pending, delivered, failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # [{"at": iso, "status": 500 | null, "error": str | null, "ms": 12}], one per attempt
    history: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    webhook: Mapped[Webhook] = relationship()

    def as_dict(self, with_payload: bool = False) -> dict[str, Any]:
        shown: dict[str, Any] = {
            "id": self.id,
            "webhook": self.webhook.name,
            "audit_seq": self.audit_seq,
            "event": self.event,
            "state": self.state,
            "attempts": self.attempts,
            "next_attempt_at": iso(self.next_attempt_at),
            "last_status": self.last_status,
            "last_error": self.last_error,
            "delivered_at": iso(self.delivered_at),
            "created_at": self.created_at.isoformat(),
            "history": list(self.history),
        }
        if with_payload:
            shown["payload"] = self.payload
        return shown


class WebhookCursor(Base):
    """How far the webhook tailer has read the audit chain: one row."""

    __tablename__ = "webhook_cursor"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(_SEQ)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
