"""Read-only audit endpoints: list, export (JSON lines) and verify. Nothing updates an event."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from golive.api.deps import DB, Limit, require
from golive.audit.chain import AuditEvent, stored_events, verify_stored
from golive.auth.roles import Permission
from golive.auth.service import Actor

router = APIRouter(prefix="/api/v1", tags=["audit"])
Auditor = Annotated[Actor, Depends(require(Permission.AUDIT_READ))]


@router.get("/audit/events", summary="Audit events, oldest first, filtered")
def list_events(
    db: DB,
    _actor: Auditor,
    after_seq: int = 0,
    actor: str | None = None,
    action: str | None = None,
    subject_type: str | None = None,
    subject_id: str | None = None,
    limit: Limit = 100,
) -> dict[str, Any]:
    query = select(AuditEvent).where(AuditEvent.seq > after_seq).order_by(AuditEvent.seq)
    if actor:
        query = query.where(AuditEvent.actor == actor)
    if action:
        query = query.where(AuditEvent.action == action)
    if subject_type:
        query = query.where(AuditEvent.subject_type == subject_type)
    if subject_id:
        query = query.where(AuditEvent.subject_id == subject_id)
    with db.reading() as session:
        events = [event.as_dict() for event in session.scalars(query.limit(limit))]
    next_after = events[-1]["seq"] if len(events) == limit else None
    return {"items": events, "next_after_seq": next_after}


@router.get("/audit/export", summary="The whole trail as JSON lines, for offline verification")
def export(db: DB, _actor: Auditor) -> StreamingResponse:
    def lines() -> Iterator[bytes]:
        with db.reading() as session:
            for event in stored_events(session):
                yield json.dumps(event, sort_keys=True).encode() + b"\n"

    return StreamingResponse(lines(), media_type="application/x-ndjson")


@router.get("/audit/verify", summary="Recompute the hash chain and name the first broken event")
def verify(db: DB, _actor: Auditor) -> dict[str, Any]:
    with db.reading() as session:
        return verify_stored(session).as_dict()
