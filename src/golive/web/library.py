"""Console pages of the definitive media library (components, versions, approval) and of
the definitive hardware store (stock against minimum levels, items).

Approving and withdrawing call the media API's own functions after the same permission
check, so the blob check, the audit event and the TUF republication happen exactly as
for ``golive media approve``.
"""

from __future__ import annotations

from collections import Counter
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from golive.auth.roles import Permission
from golive.errors import GoliveError
from golive.hardware import service as hardware
from golive.hardware.rules import ItemState
from golive.inventory.service import get_component, list_components
from golive.media import api as media_api
from golive.media.models import Version, VersionStatus
from golive.media.service import MANUAL_TRANSITIONS, list_versions
from golive.web.console import (
    PREFIX,
    ConsoleRoute,
    Viewer,
    current_viewer,
    database_of,
    redirect,
    render,
    validated,
)

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(current_viewer)]
DONE = {"approve": "Approved: it is published to agents.", "withdraw": "Withdrawn for good."}


@router.get("/media", response_class=HTMLResponse)
def media(request: Request, viewer: Signed) -> Response:
    viewer.require(Permission.MEDIA_READ)
    with database_of(request).reading() as session:
        components = list_components(session, limit=1000, offset=0)
        versions = session.scalars(
            select(Version)
            .options(selectinload(Version.component))
            .order_by(Version.added_at.desc(), Version.id.desc())
        ).all()
        by_component: dict[str, list[Version]] = {}
        for version in versions:
            by_component.setdefault(version.component.name, []).append(version)
        rows = [
            {
                **component.as_dict(),
                "count": len(by_component.get(component.name, [])),
                "statuses": dict(
                    sorted(Counter(v.status for v in by_component.get(component.name, [])).items())
                ),
                "latest": [v.version for v in by_component.get(component.name, [])[:3]],
            }
            for component in components
        ]
    return render(request, "media.html", {"rows": rows}, viewer=viewer)


def _component_page(
    request: Request,
    viewer: Viewer,
    name: str,
    *,
    notice: str | None = None,
    error: GoliveError | None = None,
) -> HTMLResponse:
    viewer.require(Permission.MEDIA_READ)
    with database_of(request).reading() as session:
        component = get_component(session, name).as_dict()
        versions = [v.as_dict() for v in list_versions(session, name, limit=500, offset=0)]
    for shown in versions:
        allowed = MANUAL_TRANSITIONS[VersionStatus(shown["status"])]
        shown["may_approve"] = VersionStatus.APPROVED in allowed
        shown["may_withdraw"] = VersionStatus.WITHDRAWN in allowed
    return render(
        request,
        "media_component.html",
        {
            "c": component,
            "versions": versions,
            "approver": viewer.may(Permission.MEDIA_APPROVE),
            "notice": notice,
            "error": error,
        },
        viewer=viewer,
        status_code=error.http_status if error is not None else 200,
    )


@router.get("/media/{name}", response_class=HTMLResponse)
def media_component(request: Request, viewer: Signed, name: str, done: str = "") -> Response:
    return _component_page(request, viewer, name, notice=DONE.get(done))


@router.post("/media/{name}/{version}/approve", response_class=HTMLResponse)
def approve(
    request: Request,
    viewer: Signed,
    name: str,
    version: str,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    viewer.require(Permission.MEDIA_APPROVE)
    body = validated(media_api.StatusChange, {"reason": reason.strip() or None})
    try:
        media_api.approve(name, version, request, database_of(request), viewer.actor, body)
    except GoliveError as exc:
        return _component_page(request, viewer, name, error=exc)
    return redirect(f"{PREFIX}/media/{name}?done=approve")


@router.post("/media/{name}/{version}/withdraw", response_class=HTMLResponse)
def withdraw(
    request: Request,
    viewer: Signed,
    name: str,
    version: str,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    viewer.require(Permission.MEDIA_APPROVE)
    body = validated(media_api.StatusChange, {"reason": reason.strip() or None})
    try:
        media_api.withdraw(name, version, request, database_of(request), viewer.actor, body)
    except GoliveError as exc:
        return _component_page(request, viewer, name, error=exc)
    return redirect(f"{PREFIX}/media/{name}?done=withdraw")


@router.get("/hardware", response_class=HTMLResponse)
def hardware_store(request: Request, viewer: Signed, model: str = "", state: str = "") -> Response:
    viewer.require(Permission.HARDWARE_READ)
    wanted = ItemState(state) if state in {s.value for s in ItemState} else None
    with database_of(request).reading() as session:
        levels = [level.as_dict() for level in hardware.stock(session)]
        models = [level["model"] for level in levels]
        items = [
            item.as_dict()
            for item in hardware.list_items(
                session,
                model=model if model in models else None,
                state=wanted,
                limit=500,
                offset=0,
            )
        ]
    return render(
        request,
        "hardware.html",
        {
            "levels": levels,
            "items": items,
            "models": models,
            "states": [s.value for s in ItemState],
            "chosen": {"model": model, "state": state},
        },
        viewer=viewer,
    )
