"""Outbound webhooks: the tailer that turns audit events into deliveries, and the sender.

The tailer reads audit events past a one-row cursor and, in the same transaction as it
moves the cursor, queues one delivery per matching active subscription; a uniqueness rule
(webhook, audit seq) keeps an event from being queued twice. The sender claims due
deliveries under a lease (so a process killed mid-send loses nothing: the lease runs out
and another attempt follows), posts each signed with the subscription's secret, and
records the attempt; failures are retried on a backoff schedule, then marked failed.

None of this bookkeeping writes audit events: a delivery is the echo of an audit event,
and if sending one recorded another, a subscription to ``*`` would feed itself forever.
The delivery log (``webhook_deliveries``) is its record. What people do to subscriptions
(create, update, delete, retry) is audited like everything else, and those events are
delivered too: one per human action, so nothing loops.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from golive import __version__
from golive.audit.chain import AuditEvent
from golive.changes.models import ChangeRequest
from golive.db import Database, utcnow
from golive.deployments.models import Deployment
from golive.integrations import signing
from golive.integrations.models import Webhook, WebhookCursor, WebhookDelivery
from golive.integrations.sealing import SecretBox
from golive.integrations.service import audit_head_seq
from golive.settings import Settings

log = logging.getLogger("golive.webhooks")

DEFAULT_BACKOFF_SECONDS = (5.0, 30.0, 120.0, 600.0, 3600.0)
_CURSOR_ID = 1
_BATCH = 500
_HISTORY_KEPT = 20
_ERROR_LENGTH = 500


def matches(filters: Sequence[str], action: str) -> bool:
    """Whether an audit action is one a subscription's filters ask for."""
    return any(fnmatchcase(action, pattern) for pattern in filters)


def next_delay(attempts: int, schedule: Sequence[float]) -> float | None:
    """Seconds to wait after the ``attempts``-th failed attempt; None: give up.

    A schedule of n delays allows n + 1 attempts in all.
    """
    if 1 <= attempts <= len(schedule):
        return float(schedule[attempts - 1])
    return None


# --- payloads --------------------------------------------------------------------------


def payload_for(session: Session, event: AuditEvent) -> dict[str, Any]:
    """What subscribers receive for ``event``: the audit event, and for a change or a
    deployment, where it stands now (its state, outcome and references)."""
    body: dict[str, Any] = {
        "event": event.action,
        "audit": {
            "seq": event.seq,
            "occurred_at": event.occurred_at,
            "actor": event.actor,
            "action": event.action,
            "subject_type": event.subject_type,
            "subject_id": event.subject_id,
            "before": event.before,
            "after": event.after,
            "reason": event.reason,
            "hash": event.hash,
        },
    }
    if event.subject_type == "change":
        body["change"] = _change_summary(session, event.subject_id)
    elif event.subject_type == "deployment":
        body["deployment"] = _deployment_summary(session, event.subject_id)
    return body


def _change_summary(session: Session, ref: str) -> dict[str, Any] | None:
    number = ref.removeprefix("CHG-")
    change = session.get(ChangeRequest, int(number)) if number.isdigit() else None
    if change is None:
        return None
    return {
        "ref": change.ref,
        "external_ref": change.external_ref,
        "type": change.change_type,
        "state": change.state,
        "title": change.title,
        "outcome": change.outcome,
        "state_reason": change.state_reason,
        "requester": change.requester,
        "environments": sorted(change.environments),
        "planned_windows": change.planned_windows,
        "authorised_until": change.authorised_until.isoformat()
        if change.authorised_until
        else None,
        "implemented_at": change.implemented_at.isoformat() if change.implemented_at else None,
    }


def _deployment_summary(session: Session, subject_id: str) -> dict[str, Any] | None:
    deployment = session.get(Deployment, int(subject_id)) if subject_id.isdigit() else None
    if deployment is None:
        return None
    return {
        "id": deployment.id,
        "versions": deployment.refs,
        "environment": deployment.environment.name,
        "strategy": deployment.strategy,
        "state": deployment.state,
        "reason": deployment.reason,
        "change_ref": deployment.change_ref,
        "started_at": deployment.started_at.isoformat() if deployment.started_at else None,
        "finished_at": deployment.finished_at.isoformat() if deployment.finished_at else None,
    }


# --- the tailer ------------------------------------------------------------------------


def _reading_from(session: Session, cursor: int | None) -> int | None:
    """The sequence number after which events may concern a subscription (None: there is
    no subscription). Events up to every subscription's start concern none of them."""
    floor = session.scalar(select(func.min(Webhook.since_seq)))
    if floor is None:
        return None
    return max(cursor or 0, int(floor))


def has_new_events(session: Session) -> bool:
    """A cheap read: are there events a subscription has not been considered for?"""
    cursor = session.scalar(select(WebhookCursor.seq).where(WebhookCursor.id == _CURSOR_ID))
    start = _reading_from(session, cursor)
    return start is not None and start < audit_head_seq(session)


def enqueue_new_events(session: Session, now: datetime, batch: int = _BATCH) -> tuple[int, int]:
    """Queue deliveries for the events past the cursor (at most ``batch`` events) and
    move the cursor past them; returns how many events were read and deliveries queued.

    Paused subscriptions get their deliveries queued too: they wait until it resumes.
    """
    cursor = session.scalars(
        select(WebhookCursor).where(WebhookCursor.id == _CURSOR_ID).with_for_update()
    ).first()
    start = _reading_from(session, cursor.seq if cursor is not None else None)
    if start is None:  # nobody listens: nothing to read, nothing to write
        return 0, 0
    if cursor is None:
        cursor = WebhookCursor(id=_CURSOR_ID, seq=start, updated_at=now)
        session.add(cursor)
    hooks = list(session.scalars(select(Webhook)))
    events = list(
        session.scalars(
            select(AuditEvent).where(AuditEvent.seq > start).order_by(AuditEvent.seq).limit(batch)
        )
    )
    queued = 0
    for event in events:
        wanted = [h for h in hooks if event.seq > h.since_seq and matches(h.events, event.action)]
        if not wanted:
            continue
        payload = payload_for(session, event)
        for hook in wanted:
            session.add(
                WebhookDelivery(
                    webhook_id=hook.id,
                    audit_seq=event.seq,
                    event=event.action,
                    payload=payload,
                    state="pending",
                    attempts=0,
                    history=[],
                    next_attempt_at=now,
                    created_at=now,
                )
            )
            queued += 1
    last = events[-1].seq if events else start
    if cursor.seq != last:
        cursor.seq, cursor.updated_at = last, now
    return len(events), queued


# --- the sender --------------------------------------------------------------------------


@dataclass(frozen=True)
class Claimed:
    """One delivery taken for one attempt, with what sending it needs."""

    delivery_id: int
    attempt: int
    url: str
    secrets: tuple[str, ...]  # that sign it: the current one, then one still in its overlap
    event: str
    body: bytes


@dataclass(frozen=True)
class Attempt:
    delivery_id: int
    attempt: int
    at: datetime
    status: int | None
    error: str | None
    milliseconds: int

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def has_due(session: Session, now: datetime) -> bool:
    found = session.scalar(
        select(WebhookDelivery.id)
        .where(WebhookDelivery.state == "pending", WebhookDelivery.next_attempt_at <= now)
        .limit(1)
    )
    return found is not None


def claim_due(
    session: Session, box: SecretBox, now: datetime, *, lease: timedelta, limit: int = 50
) -> list[Claimed]:
    """Take due deliveries of active subscriptions for one attempt each.

    Each is pushed ``lease`` into the future first, so no other process takes it while it
    is being sent; if this one dies, the lease runs out and the delivery is due again.
    Several processes skip each other's rows on PostgreSQL (SKIP LOCKED).
    """
    rows = session.execute(
        select(WebhookDelivery, Webhook)
        .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
        .where(
            WebhookDelivery.state == "pending",
            WebhookDelivery.next_attempt_at <= now,
            Webhook.active.is_(True),
        )
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
        .limit(limit)
        .with_for_update(skip_locked=True, of=WebhookDelivery)
    ).all()
    claimed = []
    for delivery, hook in rows:
        delivery.attempts += 1
        delivery.next_attempt_at = now + lease
        body = {"id": delivery.id, "webhook": hook.name, **delivery.payload}
        claimed.append(
            Claimed(
                delivery_id=delivery.id,
                attempt=delivery.attempts,
                url=hook.url,
                secrets=tuple(box.open(sealed) for sealed in hook.signing_secrets(now)),
                event=delivery.event,
                body=json.dumps(body, sort_keys=True, separators=(",", ":")).encode(),
            )
        )
    return claimed


async def send(http: httpx.AsyncClient, claimed: Claimed) -> Attempt:
    """Post one delivery, signed; never raises."""
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"golive/{__version__}",
        signing.EVENT_HEADER: claimed.event,
        signing.DELIVERY_HEADER: str(claimed.delivery_id),
        **signing.signed_headers(claimed.secrets[0], claimed.body, also=claimed.secrets[1:]),
    }
    started = time.monotonic()
    status: int | None = None
    error: str | None = None
    try:
        response = await http.post(claimed.url, content=claimed.body, headers=headers)
        status = response.status_code
        if not 200 <= status < 300:
            error = f"HTTP {status}: {response.text[:200]}"
    except httpx.HTTPError as exc:
        error = f"{exc.__class__.__name__}: {exc}" if str(exc) else exc.__class__.__name__
    elapsed = int((time.monotonic() - started) * 1000)
    return Attempt(
        claimed.delivery_id,
        claimed.attempt,
        utcnow(),
        status,
        error[:_ERROR_LENGTH] if error else None,
        elapsed,
    )


def record_attempt(session: Session, attempt: Attempt, schedule: Sequence[float]) -> None:
    """Write down one attempt: delivered, due again after the backoff, or failed."""
    delivery = session.scalars(
        select(WebhookDelivery).where(WebhookDelivery.id == attempt.delivery_id).with_for_update()
    ).first()
    if delivery is None or delivery.state != "pending" or delivery.attempts != attempt.attempt:
        return  # deleted, or taken over after the lease ran out: the newer attempt speaks
    entry = {
        "attempt": attempt.attempt,
        "at": attempt.at.isoformat(),
        "status": attempt.status,
        "error": attempt.error,
        "ms": attempt.milliseconds,
    }
    delivery.history = [*delivery.history, entry][-_HISTORY_KEPT:]
    delivery.last_status = attempt.status
    delivery.last_error = attempt.error
    if attempt.ok:
        delivery.state = "delivered"
        delivery.delivered_at = attempt.at
        delivery.next_attempt_at = None
        return
    delay = next_delay(delivery.attempts, schedule)
    if delay is None:
        delivery.state = "failed"
        delivery.next_attempt_at = None
        log.warning(
            "webhook delivery %s (%s) failed after %s attempts: %s",
            delivery.id,
            delivery.event,
            delivery.attempts,
            attempt.error,
        )
    else:
        delivery.next_attempt_at = attempt.at + timedelta(seconds=delay)


# --- the loop ----------------------------------------------------------------------------


@dataclass(frozen=True)
class SenderSettings:
    poll_seconds: float = 1.0
    backoff_seconds: tuple[float, ...] = DEFAULT_BACKOFF_SECONDS
    timeout_seconds: float = 10.0

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.timeout_seconds + 30)

    @classmethod
    def from_settings(cls, settings: Settings) -> SenderSettings:
        return cls(
            poll_seconds=settings.webhook_poll_seconds,
            backoff_seconds=tuple(settings.webhook_backoff_seconds),
            timeout_seconds=settings.webhook_timeout_seconds,
        )


def _enqueue(db: Database) -> int:
    """Events read past the cursor (0: it was at the head)."""
    with db.reading() as session:
        if not has_new_events(session):
            return 0
    with db.writing() as session:
        read, _ = enqueue_new_events(session, utcnow())
        return read


def _claim(db: Database, box: SecretBox, config: SenderSettings) -> list[Claimed]:
    now = utcnow()
    with db.reading() as session:
        if not has_due(session, now):
            return []
    with db.writing() as session:
        return claim_due(session, box, now, lease=config.lease)


def _record(db: Database, attempts: list[Attempt], config: SenderSettings) -> None:
    with db.writing() as session:
        for attempt in attempts:
            record_attempt(session, attempt, config.backoff_seconds)


async def deliver_once(
    db: Database, box: SecretBox, http: httpx.AsyncClient, config: SenderSettings
) -> bool:
    """Queue what is new, send what is due; True when there was anything to do."""
    read = await asyncio.to_thread(_enqueue, db)
    claimed = await asyncio.to_thread(_claim, db, box, config)
    if claimed:
        attempts = await asyncio.gather(*(send(http, each) for each in claimed))
        await asyncio.to_thread(_record, db, list(attempts), config)
    return bool(read or claimed)


async def keep_delivering(
    db: Database, box: SecretBox, config: SenderSettings, stop: asyncio.Event
) -> None:
    """Deliver until ``stop`` is set; a failing round is logged, never fatal."""
    async with httpx.AsyncClient(timeout=config.timeout_seconds, follow_redirects=False) as http:
        while not stop.is_set():
            try:
                busy = await deliver_once(db, box, http, config)
            except Exception:
                log.exception("webhook delivery round failed; trying again")
                busy = False
            if busy:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=config.poll_seconds)


def start_delivering(settings: Settings, db: Database, stop: asyncio.Event) -> asyncio.Task[None]:
    """The webhook sender as a task of the running loop (server lifespan, ``golive worker``)."""
    box = SecretBox.from_keys_dir(settings.keys_dir)
    config = SenderSettings.from_settings(settings)
    return asyncio.create_task(keep_delivering(db, box, config, stop), name="golive-webhooks")
