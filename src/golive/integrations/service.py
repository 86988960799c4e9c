"""ITSM connections and webhook subscriptions: creating, changing and removing them, and
reading the delivery log. Every change of a record writes its audit event in the caller's
transaction. Secrets are returned once, at creation, and stored sealed.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.audit.chain import AuditHead
from golive.auth.service import Actor
from golive.db import iso, utcnow
from golive.errors import ConflictError, NotFoundError
from golive.integrations.models import ItsmConnection, Webhook, WebhookDelivery
from golive.integrations.schemas import (
    ConnectionCreate,
    ConnectionUpdate,
    WebhookCreate,
    WebhookRotate,
    WebhookUpdate,
)
from golive.integrations.sealing import SecretBox

CONNECTION_SECRET_PREFIX = "glvc_"  # noqa: S105 - a marker, not a secret
WEBHOOK_SECRET_PREFIX = "glvw_"  # noqa: S105 - a marker, not a secret
DELIVERY_STATES = ("pending", "delivered", "failed")


def _new_secret(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


# --- ITSM connections ------------------------------------------------------------------


def get_connection(session: Session, name: str) -> ItsmConnection:
    found = session.scalars(select(ItsmConnection).where(ItsmConnection.name == name)).first()
    if found is None:
        raise NotFoundError(f"ITSM connection {name!r} not found", details={"connection": name})
    return found


def list_connections(session: Session) -> list[ItsmConnection]:
    return list(session.scalars(select(ItsmConnection).order_by(ItsmConnection.name)))


def create_connection(
    session: Session, actor: Actor, box: SecretBox, spec: ConnectionCreate
) -> tuple[ItsmConnection, str]:
    """Record a connection; its secret is returned once."""
    if session.scalar(select(ItsmConnection.id).where(ItsmConnection.name == spec.name)):
        raise ConflictError(f"ITSM connection {spec.name!r} already exists")
    secret = _new_secret(CONNECTION_SECRET_PREFIX)
    now = utcnow()
    connection = ItsmConnection(
        name=spec.name,
        description=spec.description,
        secret_sealed=box.seal(secret),
        active=True,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(connection)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="itsm_connection.create",
        subject_type="itsm_connection",
        subject_id=connection.name,
        after=connection.as_dict(),
    )
    return connection, secret


def update_connection(
    session: Session, actor: Actor, name: str, spec: ConnectionUpdate
) -> ItsmConnection:
    connection = get_connection(session, name)
    before = connection.as_dict()
    if spec.description is not None:
        connection.description = spec.description
    if spec.active is not None:
        connection.active = spec.active
    connection.updated_at = utcnow()
    audit.record_update(
        session,
        actor=actor.name,
        subject_type="itsm_connection",
        subject_id=name,
        before=before,
        after=connection.as_dict(),
    )
    return connection


def rotate_connection_secret(
    session: Session, actor: Actor, box: SecretBox, name: str
) -> tuple[ItsmConnection, str]:
    """Replace a connection's secret at once; the old one stops working."""
    connection = get_connection(session, name)
    secret = _new_secret(CONNECTION_SECRET_PREFIX)
    connection.secret_sealed = box.seal(secret)
    connection.updated_at = utcnow()
    audit.record(
        session,
        actor=actor.name,
        action="itsm_connection.rotate",
        subject_type="itsm_connection",
        subject_id=name,
        reason="secret replaced",
    )
    return connection, secret


def delete_connection(session: Session, actor: Actor, name: str) -> None:
    """Remove a connection; the changes it raised stay, named ``itsm:<name>``."""
    connection = get_connection(session, name)
    before = connection.as_dict()
    session.delete(connection)
    audit.record(
        session,
        actor=actor.name,
        action="itsm_connection.delete",
        subject_type="itsm_connection",
        subject_id=name,
        before=before,
    )


# --- webhooks ------------------------------------------------------------------------


def get_webhook(session: Session, name: str) -> Webhook:
    found = session.scalars(select(Webhook).where(Webhook.name == name)).first()
    if found is None:
        raise NotFoundError(f"webhook {name!r} not found", details={"webhook": name})
    return found


def list_webhooks(session: Session) -> list[Webhook]:
    return list(session.scalars(select(Webhook).order_by(Webhook.name)))


def _audited(webhook: Webhook) -> dict[str, Any]:
    shown = webhook.as_dict()
    del shown["since_seq"]  # set from the create event itself
    return shown


def create_webhook(
    session: Session, actor: Actor, box: SecretBox, spec: WebhookCreate
) -> tuple[Webhook, str]:
    """Subscribe ``spec.url`` to events after this one; the secret is returned once."""
    if session.scalar(select(Webhook.id).where(Webhook.name == spec.name)):
        raise ConflictError(f"webhook {spec.name!r} already exists")
    secret = _new_secret(WEBHOOK_SECRET_PREFIX)
    now = utcnow()
    webhook = Webhook(
        name=spec.name,
        url=spec.url,
        secret_sealed=box.seal(secret),
        events=sorted(set(spec.events)),
        active=spec.active,
        since_seq=0,
        created_by=actor.name,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    session.flush()
    event = audit.record(
        session,
        actor=actor.name,
        action="webhook.create",
        subject_type="webhook",
        subject_id=webhook.name,
        after=_audited(webhook),
    )
    # Events recorded before the subscription existed are not sent to it.
    webhook.since_seq = event.seq
    return webhook, secret


def rotate_webhook_secret(
    session: Session, actor: Actor, box: SecretBox, name: str, spec: WebhookRotate
) -> tuple[Webhook, str]:
    """Give a webhook a new signing secret, returned once.

    With ``spec.overlap_hours`` the old secret keeps signing deliveries too (a second
    signature) until then, so the receiver can switch without refusing any; without,
    it stops at once. Rotating again during an overlap ends the older secret's at once.
    """
    webhook = get_webhook(session, name)
    secret = _new_secret(WEBHOOK_SECRET_PREFIX)
    now = utcnow()
    if spec.overlap_hours > 0:
        webhook.previous_secret_sealed = webhook.secret_sealed
        webhook.previous_secret_until = now + timedelta(hours=spec.overlap_hours)
    else:
        webhook.previous_secret_sealed = None
        webhook.previous_secret_until = None
    webhook.secret_sealed = box.seal(secret)
    webhook.updated_at = now
    audit.record(
        session,
        actor=actor.name,
        action="webhook.rotate",
        subject_type="webhook",
        subject_id=name,
        after={"previous_secret_until": iso(webhook.previous_secret_until)},
        reason="signing secret replaced",
    )
    return webhook, secret


def update_webhook(session: Session, actor: Actor, name: str, spec: WebhookUpdate) -> Webhook:
    webhook = get_webhook(session, name)
    before = _audited(webhook)
    if spec.url is not None:
        webhook.url = spec.url
    if spec.events is not None:
        webhook.events = sorted(set(spec.events))
    if spec.active is not None:
        webhook.active = spec.active
    webhook.updated_at = utcnow()
    audit.record_update(
        session,
        actor=actor.name,
        subject_type="webhook",
        subject_id=name,
        before=before,
        after=_audited(webhook),
    )
    return webhook


def delete_webhook(session: Session, actor: Actor, name: str) -> None:
    """Remove a subscription and its delivery log."""
    webhook = get_webhook(session, name)
    before = _audited(webhook)
    removed = session.scalar(
        select(func.count(WebhookDelivery.id)).where(WebhookDelivery.webhook_id == webhook.id)
    )
    session.execute(delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook.id))
    session.delete(webhook)
    audit.record(
        session,
        actor=actor.name,
        action="webhook.delete",
        subject_type="webhook",
        subject_id=name,
        before={**before, "deliveries": int(removed or 0)},
    )


# --- the delivery log ------------------------------------------------------------------


def list_deliveries(
    session: Session,
    *,
    webhook: str | None = None,
    state: str | None = None,
    limit: int,
    offset: int,
) -> list[WebhookDelivery]:
    query = select(WebhookDelivery).options(selectinload(WebhookDelivery.webhook))
    if webhook is not None:
        query = query.where(WebhookDelivery.webhook_id == get_webhook(session, webhook).id)
    if state is not None:
        query = query.where(WebhookDelivery.state == state)
    query = query.order_by(WebhookDelivery.id.desc()).limit(limit).offset(offset)
    return list(session.scalars(query))


def get_delivery(session: Session, delivery_id: int) -> WebhookDelivery:
    found = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .options(selectinload(WebhookDelivery.webhook))
    ).first()
    if found is None:
        raise NotFoundError(
            f"webhook delivery {delivery_id} not found", details={"delivery": delivery_id}
        )
    return found


def retry_delivery(session: Session, actor: Actor, delivery_id: int) -> WebhookDelivery:
    """Send a failed delivery once more, now (a person's decision, so it is audited)."""
    delivery = get_delivery(session, delivery_id)
    if delivery.state != "failed":
        raise ConflictError(
            f"webhook delivery {delivery_id} is {delivery.state}; only a failed one is retried",
            details={"delivery": delivery_id, "state": delivery.state},
        )
    delivery.state = "pending"
    delivery.next_attempt_at = utcnow()
    audit.record(
        session,
        actor=actor.name,
        action="webhook_delivery.retry",
        subject_type="webhook_delivery",
        subject_id=str(delivery.id),
        before={"state": "failed"},
        after={"state": "pending", "webhook": delivery.webhook.name},
    )
    return delivery


def audit_head_seq(session: Session) -> int:
    return int(session.scalar(select(AuditHead.seq)) or 0)
