"""Console pages of the estate: the dashboard (components by environments) and targets
(inventory, what is installed, history, drift)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from golive.agents.models import AgentState, Installed
from golive.agents.service import installed_on
from golive.auth.roles import Permission
from golive.deployments import service as deployments
from golive.deployments.overview import overview
from golive.inventory.models import Component, Environment
from golive.inventory.service import list_environments, list_targets
from golive.web.console import PREFIX, ConsoleRoute, Viewer, current_viewer, database_of, render

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(current_viewer)]


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def dashboard(
    request: Request, viewer: Signed, environment: str = "", component: str = ""
) -> Response:
    if not (viewer.may(Permission.DEPLOYMENTS_READ) and viewer.may(Permission.INVENTORY_READ)):
        return render(request, "welcome.html", viewer=viewer)
    with database_of(request).reading() as session:
        environments = list(
            session.scalars(
                select(Environment.name).order_by(Environment.position, Environment.name)
            )
        )
        components = list(session.scalars(select(Component.name).order_by(Component.name)))
        found = overview(
            session,
            environment=environment if environment in environments else None,
            component=component if component in components else None,
        )
        active = [
            d.as_dict()
            for d in deployments.list_deployments(session, limit=50, offset=0)
            if not d.is_final
        ]
    counts: dict[str, int] = {}
    for cell in found.cells.values():
        counts[cell.state] = counts.get(cell.state, 0) + 1
    return render(
        request,
        "dashboard.html",
        {
            "o": found,
            "environments": environments,
            "components": components,
            "chosen": {"environment": environment, "component": component},
            "counts": counts,
            "active": active,
        },
        viewer=viewer,
    )


@router.get("/targets", response_class=HTMLResponse)
def targets(request: Request, viewer: Signed, environment: str = "") -> Response:
    viewer.require(Permission.INVENTORY_READ)
    with database_of(request).reading() as session:
        environments = [e.name for e in list_environments(session, limit=1000, offset=0)]
        chosen = environment if environment in environments else None
        found = list_targets(session, environment=chosen, limit=1000, offset=0)
        ids = [t.id for t in found]
        installed: dict[int, list[str]] = {}
        for record in session.scalars(
            select(Installed)
            .options(selectinload(Installed.component), selectinload(Installed.version))
            .where(Installed.target_id.in_(ids))
        ):
            installed.setdefault(record.target_id, []).append(
                f"{record.component.name}@{record.version.version}"
            )
        states = {
            s.target_id: s
            for s in session.scalars(select(AgentState).where(AgentState.target_id.in_(ids)))
        }
        rows: list[dict[str, Any]] = []
        for target in found:
            state = states.get(target.id)
            inventory = state.inventory if state is not None else None
            rows.append(
                {
                    **target.as_dict(),
                    "installed": sorted(installed.get(target.id, [])),
                    "last_report_at": state.last_report_at if state is not None else None,
                    "unauthorised": bool((inventory or {}).get("unauthorised")),
                }
            )
    return render(
        request,
        "targets.html",
        {"rows": rows, "environments": environments, "chosen": environment},
        viewer=viewer,
    )


@router.get("/targets/{name}", response_class=HTMLResponse)
def target(request: Request, viewer: Signed, name: str) -> Response:
    viewer.require(Permission.INVENTORY_READ)
    with database_of(request).reading() as session:
        shown = installed_on(session, name)
        history = deployments.target_history(session, name, limit=100)
    drift = [item for item in shown["installed"] if item["matches"] is False]
    return render(
        request,
        "target.html",
        {"t": shown, "history": history, "drift": drift},
        viewer=viewer,
    )
