"""Figures of the practice, computed from the records for a period: how much work ran
under an authorised change, how much started inside its window, the emergency share,
deviations, and how long change authorities take to decide.

Every figure names what it is computed from, so a reader can check it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from golive.audit.chain import AuditEvent, timestamp
from golive.changes.models import ChangeRequest
from golive.changes.rules import ChangeState, ChangeType
from golive.changes.service import parse_ref
from golive.deployments.models import Deployment
from golive.errors import InvalidInputError

AUTHORISED_STATES = {ChangeState.AUTHORISED, ChangeState.IMPLEMENTED, ChangeState.CLOSED}
# Audit actions that record work that did not go as change control planned.
DEVIATIONS = ("deployment.deviation", "change.deviation")


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * (len(ordered) - 1))))
    return round(ordered[index], 1)


def practice(session: Session, since: datetime, until: datetime) -> dict[str, Any]:
    """The figures for deployments started and changes decided in ``[since, until)``."""
    deployments = list(
        session.scalars(
            select(Deployment)
            .where(Deployment.started_at >= since, Deployment.started_at < until)
            .options(selectinload(Deployment.environment))
        )
    )
    linked_ids = {
        parse_ref(d.change_ref) for d in deployments if d.change_ref and _is_ref(d.change_ref)
    }
    changes_by_id = {
        c.id: c
        for c in session.scalars(select(ChangeRequest).where(ChangeRequest.id.in_(linked_ids)))
    }
    under_change = 0
    needed_but_missing = 0
    for deployment in deployments:
        change = (
            changes_by_id.get(parse_ref(deployment.change_ref))
            if deployment.change_ref and _is_ref(deployment.change_ref)
            else None
        )
        if change is not None and change.current in AUTHORISED_STATES:
            under_change += 1
        elif deployment.environment.policy.get("requires_change"):
            needed_but_missing += 1
    events = list(
        session.scalars(
            select(AuditEvent).where(
                AuditEvent.action.in_(DEVIATIONS),
                AuditEvent.occurred_at >= _stamp(since),
                AuditEvent.occurred_at < _stamp(until),
            )
        )
    )
    kinds = Counter(str((event.after or {}).get("kind", "other")) for event in events)
    started_outside = {
        event.subject_id
        for event in events
        if (event.after or {}).get("kind") in ("started_outside_window", "freeze_override")
    }
    inside = sum(1 for d in deployments if f"deployment {d.id}" not in started_outside)
    decided = list(
        session.scalars(
            select(ChangeRequest)
            .where(ChangeRequest.submitted_at.is_not(None))
            .options(selectinload(ChangeRequest.approvals))
        )
    )
    waits: list[float] = []
    for change in decided:
        moment = change.authorised_at
        if moment is None and change.current == ChangeState.REJECTED:
            moment = change.updated_at
        if change.kind == ChangeType.STANDARD or moment is None or change.submitted_at is None:
            continue
        if since <= moment < until:
            waits.append((moment - change.submitted_at).total_seconds())
    implemented = [
        c for c in decided if c.implemented_at is not None and since <= c.implemented_at < until
    ]
    emergencies = sum(1 for c in implemented if c.kind == ChangeType.EMERGENCY)
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "deployments": {
            "started": len(deployments),
            "under_authorised_change": under_change,
            "without_change": len(deployments) - under_change,
            "without_change_where_required": needed_but_missing,
            "share_under_authorised_change": _share(under_change, len(deployments)),
            "started_inside_window": inside,
            "share_started_inside_window": _share(inside, len(deployments)),
            "computed_from": "deployments started in the period; their change_ref; "
            "deviation events in the audit trail",
        },
        "changes": {
            "implemented": len(implemented),
            "emergency": emergencies,
            "emergency_share": _share(emergencies, len(implemented)),
            "computed_from": "changes implemented in the period",
        },
        "deviations": {
            "total": len(events),
            "by_kind": dict(sorted(kinds.items())),
            "computed_from": f"audit events {', '.join(DEVIATIONS)} in the period",
        },
        "time_to_decision_seconds": {
            "decisions": len(waits),
            "median": round(median(waits), 1) if waits else None,
            "p90": _percentile(waits, 0.9),
            "computed_from": "submitted to authorised or rejected, normal and emergency "
            "changes decided in the period",
        },
    }


def _is_ref(text: str) -> bool:
    try:
        parse_ref(text)
    except InvalidInputError:  # an external reference, not one of golive's changes
        return False
    return True


def _stamp(moment: datetime) -> str:
    return timestamp(moment)
