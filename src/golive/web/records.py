"""Console pages of the records: the audit trail (filter, export, verify the chain) and
the figures (delivery and change control, as server-rendered charts)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from sqlalchemy import select

from golive.audit.chain import AuditEvent, stored_events, verify_stored
from golive.auth.roles import Permission
from golive.changes import figures as change_figures
from golive.db import utcnow
from golive.deployments.figures import delivery_figures
from golive.web.console import PREFIX, ConsoleRoute, Viewer, current_viewer, database_of, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(current_viewer)]
PAGE = 100
PERIODS = (7, 30, 90)


@router.get("/audit", response_class=HTMLResponse)
def audit(
    request: Request,
    viewer: Signed,
    actor: str = "",
    action: str = "",
    subject_type: str = "",
    subject_id: str = "",
    before_seq: int = 0,
) -> Response:
    viewer.require(Permission.AUDIT_READ)
    query = select(AuditEvent).order_by(AuditEvent.seq.desc())
    if before_seq > 0:
        query = query.where(AuditEvent.seq < before_seq)
    for column, value in (
        (AuditEvent.actor, actor),
        (AuditEvent.action, action),
        (AuditEvent.subject_type, subject_type),
        (AuditEvent.subject_id, subject_id),
    ):
        if value.strip():
            query = query.where(column == value.strip())
    with database_of(request).reading() as session:
        events = [event.as_dict() for event in session.scalars(query.limit(PAGE))]
    older = events[-1]["seq"] if len(events) == PAGE else None
    chosen = {
        "actor": actor,
        "action": action,
        "subject_type": subject_type,
        "subject_id": subject_id,
    }
    return render(
        request,
        "audit.html",
        {"events": events, "older": older, "chosen": chosen, "verdict": None},
        viewer=viewer,
    )


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, viewer: Signed) -> Response:
    """Recompute the hash chain (as GET /api/v1/audit/verify) and show the verdict."""
    viewer.require(Permission.AUDIT_READ)
    with database_of(request).reading() as session:
        verdict = verify_stored(session).as_dict()
        events = [
            e.as_dict()
            for e in session.scalars(select(AuditEvent).order_by(AuditEvent.seq.desc()).limit(20))
        ]
    return render(
        request,
        "audit.html",
        {
            "events": events,
            "older": None,
            "chosen": {"actor": "", "action": "", "subject_type": "", "subject_id": ""},
            "verdict": verdict,
        },
        viewer=viewer,
    )


@router.get("/audit/export")
def audit_export(request: Request, viewer: Signed) -> Response:
    """The whole trail as JSON lines, as GET /api/v1/audit/export gives it."""
    viewer.require(Permission.AUDIT_READ)
    db = database_of(request)

    def lines() -> Iterator[bytes]:
        with db.reading() as session:
            for event in stored_events(session):
                yield json.dumps(event, sort_keys=True).encode() + b"\n"

    stamp = utcnow().strftime("%Y%m%dT%H%M%SZ")
    return StreamingResponse(
        lines(),
        media_type="application/x-ndjson",
        headers={"Content-Disposition": f'attachment; filename="golive-audit-{stamp}.jsonl"'},
    )


def bars(days: list[dict[str, Any]], width: int = 640, height: int = 160) -> dict[str, Any]:
    """The geometry of a bar chart of deployments per day (drawn as SVG by the template)."""
    top = max((d["started"] for d in days), default=0) or 1
    gap = 2
    step = width / max(len(days), 1)
    shown = []
    for index, day in enumerate(days):
        tall = round((height - 20) * day["started"] / top, 1)
        shown.append(
            {
                "x": round(index * step + gap / 2, 1),
                "y": round(height - 16 - tall, 1),
                "w": round(max(step - gap, 1), 1),
                "h": tall,
                "day": day["day"],
                "n": day["started"],
                "label": day["day"][5:] if index % max(1, len(days) // 8) == 0 else "",
            }
        )
    return {"width": width, "height": height, "top": top, "bars": shown}


@router.get("/figures", response_class=HTMLResponse)
def figures(request: Request, viewer: Signed, days: int = 30) -> Response:
    viewer.require(Permission.METRICS_READ)  # as GET /api/v1/metrics/practice
    period = days if days in PERIODS else 30
    until = utcnow()
    since = until - timedelta(days=period)
    with database_of(request).reading() as session:
        delivery = delivery_figures(session, since, until)
        practice = change_figures.practice(session, since, until)
    outcomes = delivery["outcomes"]["by_state"]
    most = max(outcomes.values(), default=0) or 1
    return render(
        request,
        "figures.html",
        {
            "d": delivery,
            "p": practice,
            "chart": bars(delivery["per_day"]["days"]),
            "outcomes": [
                {"state": state, "n": n, "percent": round(100 * n / most)}
                for state, n in outcomes.items()
            ],
            "period": period,
            "periods": PERIODS,
        },
        viewer=viewer,
    )
