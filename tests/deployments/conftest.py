"""A small estate for deployment tests: one environment, targets, a component with versions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from golive.agents.models import Assignment
from golive.agents.rules import AssignmentState
from golive.agents.service import agent_actor, move_assignment
from golive.auth.service import SYSTEM
from golive.db import Database
from golive.deployments import service
from golive.deployments.models import Deployment
from golive.inventory.schemas import ComponentCreate, EnvironmentCreate, TargetCreate
from golive.inventory.service import create_component, create_environment, create_target
from golive.media.models import VersionStatus
from golive.media.service import NewVersion, change_status, register_version


def build_estate(
    session: Session, targets: int = 4, versions: tuple[str, ...] = ("1", "2")
) -> None:
    create_environment(session, SYSTEM, EnvironmentCreate(name="production"))
    for number in range(1, targets + 1):
        labels = {"role": "canary"} if number == 1 else {"role": "web"}
        create_target(
            session,
            SYSTEM,
            TargetCreate(name=f"web-{number:02d}", environment="production", labels=labels),
        )
    create_component(
        session,
        SYSTEM,
        ComponentCreate.model_validate({"name": "shop", "kind": "software"}, strict=False),
    )
    for position, version in enumerate(versions):
        register_version(
            session,
            SYSTEM,
            NewVersion("shop", version, f"shop-{version}.tar.gz", "application/gzip", "", None),
            f"{position + 1:x}" * 64,
            10,
        )
        change_status(session, SYSTEM, "shop", version, VersionStatus.APPROVED, None)


def report_all(db: Database, deployment_id: int, state: AssignmentState, *names: str) -> None:
    """Agents report ``state`` on their live assignments of the deployment."""
    path = {
        AssignmentState.SUCCEEDED: ["downloading", "installing", "verifying", "succeeded"],
        AssignmentState.FAILED: ["failed"],
        AssignmentState.ROLLED_BACK: ["downloading", "installing", "rolled_back"],
    }[state]
    with db.writing() as session:
        found = session.get(Deployment, deployment_id)
        assert found is not None
        parts = service.split(found, service.assignments_of(session, found))
        chosen: list[Assignment] = list(parts.live.values())
        for rollback in parts.rollbacks.values():
            chosen += rollback
        for assignment in chosen:
            if names and assignment.target.name not in names:
                continue
            if assignment.is_terminal:
                continue
            for step in path:
                move_assignment(
                    session,
                    agent_actor(assignment.target.name),
                    assignment,
                    AssignmentState(step),
                    reason="health_check failed" if step in ("failed", "rolled_back") else None,
                    by_agent=True,
                )


def at(seconds: int) -> datetime:
    from datetime import UTC, timedelta

    return datetime(2030, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)
