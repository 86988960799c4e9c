"""Console pages of change control: changes, the approvals inbox of the signed-in
authority, decisions, and the schedule (a week or month calendar with its conflicts).

A decision calls the changes API's own function: the service decides whether the signed-in
principal belongs to the change's authority, exactly as for ``golive changes approve``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from golive.auth.roles import Permission
from golive.changes import api as changes_api
from golive.changes import calendar, service
from golive.changes.rules import ChangeState, ChangeType, Risk
from golive.changes.schemas import ChangeCreate, DecisionIn, WindowCreate
from golive.db import utcnow
from golive.deployments.models import Deployment
from golive.errors import GoliveError, InvalidInputError
from golive.inventory.service import list_environments
from golive.web.calendar_view import days_of, items_of, span_of
from golive.web.console import (
    PREFIX,
    ConsoleRoute,
    Viewer,
    current_viewer,
    database_of,
    form_fields,
    pairs,
    redirect,
    render,
    validated,
)

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Signed = Annotated[Viewer, Depends(current_viewer)]
DONE = {
    "approve": "Your approval is recorded.",
    "reject": "Your rejection is recorded.",
    "created": "The change is recorded.",
}


@router.get("/changes", response_class=HTMLResponse)
def changes(request: Request, viewer: Signed, state: str = "", type: str = "") -> Response:
    viewer.require(Permission.CHANGES_READ)
    with database_of(request).reading() as session:
        found = service.list_changes(
            session,
            state=ChangeState(state) if state in {s.value for s in ChangeState} else None,
            change_type=ChangeType(type) if type in {t.value for t in ChangeType} else None,
            limit=500,
            offset=0,
        )
        items = service.summaries(found)
        waiting = len(service.inbox(session, viewer.actor, limit=1000, offset=0))
    return render(
        request,
        "changes.html",
        {
            "items": items,
            "waiting": waiting,
            "states": [s.value for s in ChangeState],
            "types": [t.value for t in ChangeType],
            "chosen": {"state": state, "type": type},
            "may_request": viewer.may(Permission.CHANGES_REQUEST),
        },
        viewer=viewer,
    )


@router.get("/changes/inbox", response_class=HTMLResponse)
def inbox(request: Request, viewer: Signed, done: str = "") -> Response:
    viewer.require(Permission.CHANGES_READ)  # as GET /api/v1/changes/inbox
    with database_of(request).reading() as session:
        items = service.summaries(service.inbox(session, viewer.actor, limit=500, offset=0))
    return render(request, "inbox.html", {"items": items, "notice": DONE.get(done)}, viewer=viewer)


def _change_page(
    request: Request,
    viewer: Viewer,
    ref: str,
    *,
    notice: str | None = None,
    error: GoliveError | None = None,
) -> HTMLResponse:
    viewer.require(Permission.CHANGES_READ)
    with database_of(request).reading() as session:
        change = service.get_change(session, ref)
        shown = change.as_dict()
        shown["authorisation"] = service.standing(session, change).describe()
        shown["authorities"] = [a.name for a in service.authorities_of(session, change)]
        mine = any(
            c.id == change.id for c in service.inbox(session, viewer.actor, limit=1000, offset=0)
        )
        linked = [
            d.as_dict()
            for d in session.scalars(
                select(Deployment)
                .where(Deployment.change_ref == change.ref)
                .order_by(Deployment.id)
            )
        ]
    return render(
        request,
        "change.html",
        {
            "c": shown,
            "may_decide": mine,
            "deployments": linked,
            "may_deploy": viewer.may(Permission.DEPLOYMENTS_RUN)
            and shown["state"] == ChangeState.AUTHORISED.value,
            "notice": notice,
            "error": error,
        },
        viewer=viewer,
        status_code=error.http_status if error is not None else 200,
    )


CHANGE_FIELDS = (
    "type",
    "title",
    "description",
    "risk",
    "impact",
    "components",
    "window_start",
    "window_end",
    "window_tz",
    "backout_plan",
    "external_ref",
    "model",
    "freeze_override_reason",
    "intent",
)


@router.get("/changes/new", response_class=HTMLResponse)
def new_change(request: Request, viewer: Signed, environment: str = "") -> Response:
    viewer.require(Permission.CHANGES_REQUEST)
    return _change_form(request, viewer, {"environments": [environment] if environment else []})


def _change_form(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    error: GoliveError | None = None,
) -> HTMLResponse:
    with database_of(request).reading() as session:
        environments = [e.name for e in list_environments(session, limit=1000, offset=0)]
    shown: dict[str, Any] = {name: "" for name in CHANGE_FIELDS} | {
        "window_tz": "UTC",
        "environments": [],
    }
    return render(
        request,
        "change_new.html",
        {
            "values": shown | values,
            "environments": environments,
            "types": [t.value for t in ChangeType],
            "risks": [r.value for r in Risk],
            "error": error,
        },
        viewer=viewer,
        status_code=error.http_status if error is not None else 200,
    )


def change_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The changes API's request body from the console's form fields (one planned window;
    the API and `golive changes create` take several)."""
    body: dict[str, Any] = {
        "type": form.get("type") or ChangeType.NORMAL.value,
        "title": str(form.get("title", "")).strip(),
        "description": form.get("description", ""),
        "risk": form.get("risk") or Risk.MEDIUM.value,
        "impact": form.get("impact", ""),
        "environments": list(form.get("environments", [])),
        "components": str(form.get("components", "")).replace(",", " ").split(),
        "backout_plan": form.get("backout_plan", ""),
        "submit": form.get("intent") == "submit",
    }
    start, end = str(form.get("window_start", "")), str(form.get("window_end", ""))
    if start or end:
        if not (start and end):
            raise InvalidInputError("a planned window needs both its start and its end")
        body["planned_windows"] = [
            {"start": start, "end": end, "tz": str(form.get("window_tz", "")).strip() or "UTC"}
        ]
    for optional in ("external_ref", "model", "freeze_override_reason"):
        text = str(form.get(optional, "")).strip()
        if text:
            body[optional] = text
    return body


@router.post("/changes", response_class=HTMLResponse)
async def raise_change(request: Request, viewer: Signed) -> Response:
    viewer.require(Permission.CHANGES_REQUEST)
    form = await form_fields(request, CHANGE_FIELDS, lists=("environments",))
    try:
        spec = validated(ChangeCreate, change_from_form(form))
        shown = await run_in_threadpool(
            changes_api.create_change, spec, database_of(request), viewer.actor
        )
    except GoliveError as exc:
        if exc.http_status == 403:
            raise
        return await run_in_threadpool(_change_form, request, viewer, form, error=exc)
    return redirect(f"{PREFIX}/changes/{shown['ref']}?done=created")


@router.get("/changes/{ref}", response_class=HTMLResponse)
def change(request: Request, viewer: Signed, ref: str, done: str = "") -> Response:
    return _change_page(request, viewer, ref, notice=DONE.get(done))


@router.post("/changes/{ref}/decide", response_class=HTMLResponse)
def decide(
    request: Request,
    viewer: Signed,
    ref: str,
    decision: Annotated[str, Form(max_length=20)],
    reason: Annotated[str, Form(max_length=4000)] = "",
    back: Annotated[str, Form(max_length=20)] = "",
) -> Response:
    # No role check here, as on POST /api/v1/changes/{ref}/decisions: membership of the
    # change's authority is the rule, and the service applies it.
    spec = validated(DecisionIn, {"decision": decision, "reason": reason.strip()})
    try:
        changes_api.decide(ref, spec, database_of(request), viewer.actor)
    except GoliveError as exc:
        if exc.http_status in (403, 404):
            raise
        return _change_page(request, viewer, ref, error=exc)
    if back == "inbox":
        return redirect(f"{PREFIX}/changes/inbox?done={spec.decision.value}")
    return redirect(f"{PREFIX}/changes/{ref}?done={spec.decision.value}")


@router.get("/schedule", response_class=HTMLResponse)
def schedule(
    request: Request, viewer: Signed, view: str = "week", day: str = "", window: str = ""
) -> Response:
    viewer.require(Permission.CHANGES_READ)
    view = "month" if view == "month" else "week"
    today = utcnow().date()
    try:
        anchor = date.fromisoformat(day) if day else today
    except ValueError:
        raise InvalidInputError(f"day must be a date like 2030-01-31; got {day!r}") from None
    first, after = span_of(view, anchor)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    until = datetime.combine(after, time.min, tzinfo=UTC)
    with database_of(request).reading() as session:
        plan = calendar.schedule(session, since, until).as_dict()
    items = items_of(plan)
    days = days_of(
        items, first, after, month=anchor.month if view == "month" else None, today=today
    )
    step = timedelta(days=7) if view == "week" else timedelta(days=31)
    previous = (anchor.replace(day=1) - timedelta(days=1)) if view == "month" else anchor - step
    following = (anchor.replace(day=1) + step).replace(day=1) if view == "month" else anchor + step
    return render(
        request,
        "schedule.html",
        {
            "view": view,
            "anchor": anchor,
            "days": days,
            "conflicts": plan["conflicts"],
            "previous": previous.isoformat(),
            "following": following.isoformat(),
            "title": anchor.strftime("%B %Y")
            if view == "month"
            else f"Week of {first.isoformat()}",
            "notice": f"Window {window} is defined." if window else None,
            "may_configure": viewer.may(Permission.CHANGES_CONFIGURE),
        },
        viewer=viewer,
    )


WINDOW_FIELDS = (
    "name",
    "kind",
    "tz",
    "start",
    "end",
    "duration",
    "rrule",
    "exdates",
    "components",
    "labels",
    "description",
)


@router.get("/windows/new", response_class=HTMLResponse)
def new_window(request: Request, viewer: Signed, kind: str = "allow") -> Response:
    viewer.require(Permission.CHANGES_CONFIGURE)
    chosen = kind if kind in ("allow", "deny") else "allow"
    return _window_form(request, viewer, {"kind": chosen})


def _window_form(
    request: Request, viewer: Viewer, values: dict[str, Any], *, error: GoliveError | None = None
) -> HTMLResponse:
    with database_of(request).reading() as session:
        environments = [e.name for e in list_environments(session, limit=1000, offset=0)]
    shown: dict[str, Any] = {name: "" for name in WINDOW_FIELDS} | {
        "tz": "UTC",
        "kind": "allow",
        "environments": [],
    }
    return render(
        request,
        "window_new.html",
        {"values": shown | values, "environments": environments, "error": error},
        viewer=viewer,
        status_code=error.http_status if error is not None else 200,
    )


def window_from_form(form: dict[str, Any]) -> dict[str, Any]:
    """The windows API's request body from the console's form fields."""
    body: dict[str, Any] = {
        "name": str(form.get("name", "")).strip(),
        "kind": form.get("kind", ""),
        "tz": str(form.get("tz", "")).strip() or "UTC",
        "start": str(form.get("start", "")).strip(),
        "exdates": str(form.get("exdates", "")).replace(",", " ").split(),
        "scope": {
            "environments": list(form.get("environments", [])),
            "components": str(form.get("components", "")).replace(",", " ").split(),
            "labels": pairs(str(form.get("labels", "")), "labels"),
        },
        "description": form.get("description", ""),
    }
    for optional in ("end", "duration", "rrule"):
        text = str(form.get(optional, "")).strip()
        if text:
            body[optional] = text
    return body


@router.post("/windows", response_class=HTMLResponse)
async def define_window(request: Request, viewer: Signed) -> Response:
    viewer.require(Permission.CHANGES_CONFIGURE)
    form = await form_fields(request, WINDOW_FIELDS, lists=("environments",))
    try:
        spec = validated(WindowCreate, window_from_form(form))
        shown = await run_in_threadpool(
            changes_api.create_window, spec, database_of(request), viewer.actor
        )
    except GoliveError as exc:
        if exc.http_status == 403:
            raise
        return await run_in_threadpool(_window_form, request, viewer, form, error=exc)
    day = str(spec.start)[:10]
    return redirect(f"{PREFIX}/schedule?day={day}&window={shown['name']}")
