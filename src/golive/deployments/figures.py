"""Delivery figures computed from the deployment records of a period: how often golive
deploys, how often that goes well, how long a version waits between the media library and
a succeeded deployment, and how long a failure takes to be put right.

Each figure says what it is computed from, so a reader can check it against the records.
The arithmetic (``delivery``) is a pure function of plain rows; ``delivery_figures`` reads
them.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from golive.deployments.models import Deployment, DeploymentState, DeploymentVersion

_D = DeploymentState
BAD_ENDINGS = frozenset({_D.FAILED.value, _D.ROLLED_BACK.value})


@dataclass(frozen=True)
class DeploymentRow:
    """What the figures need of one deployment."""

    id: int
    environment: str
    components: frozenset[str]
    state: str
    started_at: datetime | None
    finished_at: datetime | None
    registered_at: datetime | None  # the newest of its versions' registrations in the DML


def _seconds(values: Sequence[float]) -> dict[str, float | int | None]:
    if not values:
        return {"count": 0, "median": None, "max": None}
    return {"count": len(values), "median": round(median(values), 1), "max": round(max(values), 1)}


def _share(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def delivery(rows: Sequence[DeploymentRow], since: datetime, until: datetime) -> dict[str, Any]:
    """The delivery figures for ``[since, until)`` from ``rows`` (which may reach earlier:
    a restore in the period may follow a failure before it)."""
    started = [r for r in rows if r.started_at is not None and since <= r.started_at < until]
    per_day: Counter[date] = Counter(r.started_at.date() for r in started if r.started_at)
    days = []
    day, last = since.date(), (until - timedelta(microseconds=1)).date()
    while day <= last:
        days.append({"day": day.isoformat(), "started": per_day.get(day, 0)})
        day += timedelta(days=1)
    finished = [r for r in rows if r.finished_at is not None and since <= r.finished_at < until]
    outcomes = Counter(r.state for r in finished)
    bad = sum(outcomes.get(state, 0) for state in BAD_ENDINGS)
    lead = [
        (r.finished_at - r.registered_at).total_seconds()
        for r in finished
        if r.state == _D.SUCCEEDED.value and r.finished_at and r.registered_at
    ]
    restores: list[float] = []
    ordered = sorted(
        (r for r in rows if r.finished_at is not None), key=lambda r: (r.finished_at, r.id)
    )
    for index, failure in enumerate(ordered):
        if failure.state not in BAD_ENDINGS:
            continue
        for later in ordered[index + 1 :]:
            same = later.environment == failure.environment and later.components & (
                failure.components
            )
            if same and later.state == _D.SUCCEEDED.value:
                if later.finished_at and failure.finished_at and since <= later.finished_at < until:
                    restores.append((later.finished_at - failure.finished_at).total_seconds())
                break
    return {
        "from": since.isoformat(),
        "to": until.isoformat(),
        "per_day": {
            "days": days,
            "total": len(started),
            "computed_from": "deployments by the day (UTC) they started",
        },
        "outcomes": {
            "finished": len(finished),
            "by_state": dict(sorted(outcomes.items())),
            "success_rate": _share(outcomes.get(_D.SUCCEEDED.value, 0), len(finished)),
            "rollback_rate": _share(outcomes.get(_D.ROLLED_BACK.value, 0), len(finished)),
            "computed_from": "deployments that finished in the period, by their final state",
        },
        "change_failure_rate": {
            "rate": _share(bad, len(finished)),
            "failed_or_rolled_back": bad,
            "finished": len(finished),
            "computed_from": "finished deployments that ended failed or rolled back, of all "
            "finished deployments (every environment; aborted ones count as finished)",
        },
        "lead_time_seconds": {
            **_seconds(lead),
            "computed_from": "succeeded deployments: from the registration of their newest "
            "version in the media library to the deployment's end",
        },
        "time_to_restore_seconds": {
            **_seconds(restores),
            "computed_from": "a deployment that ended failed or rolled back, to the next "
            "succeeded deployment of the same component to the same environment",
        },
    }


def delivery_figures(session: Session, since: datetime, until: datetime) -> dict[str, Any]:
    """The delivery figures of the deployments that started or finished in the period
    (and, for time to restore, the failures before it)."""
    found = session.scalars(
        select(Deployment)
        .options(
            selectinload(Deployment.environment),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.version),
            selectinload(Deployment.versions).selectinload(DeploymentVersion.component),
        )
        .where(
            or_(
                Deployment.started_at >= since - timedelta(days=90),
                Deployment.finished_at >= since - timedelta(days=90),
            ),
            Deployment.created_at < until,
        )
    )
    rows = [
        DeploymentRow(
            id=d.id,
            environment=d.environment.name,
            components=frozenset(item.component.name for item in d.versions),
            state=d.state,
            started_at=d.started_at,
            finished_at=d.finished_at,
            registered_at=max((item.version.added_at for item in d.versions), default=None),
        )
        for d in found
    ]
    return delivery(rows, since, until)
