"""Console pages of deployments: the list, a deployment's page (updated live), the
decisions on it, and the form that starts one.

Actions call the deployments API's own functions (``golive.deployments.api``) after the
same permission check its dependencies make, so a deployment started or paused here takes
the same path, rules and audit as one started with ``golive deploy``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from golive.auth.roles import Permission
from golive.deployments import api as deployments_api
from golive.deployments import service
from golive.deployments.models import ACTIVE, DeploymentState
from golive.deployments.strategies.model import STRATEGIES
from golive.errors import GoliveError, InvalidInputError
from golive.inventory.service import list_environments
from golive.media.models import Version, VersionStatus
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
_D = DeploymentState
# Each decision: the permission the API's route demands, its button, and the API's own
# function for it. When a state does not allow it, the service refuses with a sentence;
# the console only hides the button.
DECISIONS: dict[str, tuple[Permission, str, Callable[..., dict[str, Any]]]] = {
    "pause": (Permission.DEPLOYMENTS_RUN, "Pause", deployments_api.pause),
    "resume": (Permission.DEPLOYMENTS_RUN, "Resume", deployments_api.resume),
    "confirm": (Permission.DEPLOYMENTS_CONFIRM, "Confirm next wave", deployments_api.confirm),
    "abort": (Permission.DEPLOYMENTS_RUN, "Abort", deployments_api.abort),
    "retry": (Permission.DEPLOYMENTS_RUN, "Retry failed", deployments_api.retry),
    "rollback": (Permission.DEPLOYMENTS_RUN, "Roll back", deployments_api.rollback),
}
DONE = {
    "pause": "Paused: nothing new starts; running targets finish.",
    "resume": "Resumed.",
    "confirm": "The next wave is confirmed.",
    "abort": "Abort requested: what has not started is skipped.",
    "retry": "The failed targets run again.",
    "rollback": "Rollback requested: succeeded targets go back to their last good version.",
    "created": "Deployment recorded; the engine starts it.",
}


def applicable(shown: dict[str, Any]) -> list[str]:
    """The decisions the deployment's state allows now (the service's own rules)."""
    state = _D(shown["state"])
    winding_down = shown["abort_requested"] or shown["rollback_requested"]
    failed = shown["counts"].get("failed", 0) + shown["counts"].get("rolled_back", 0)
    unconfirmed = [
        wave["index"]
        for wave in shown["waves"]
        if wave["index"] >= 2 and wave["started_at"] is None and not wave["confirmed"]
    ]
    found = []
    waiting = (_D.WAITING_FOR_CONFIRMATION, _D.WAITING_FOR_WINDOW)
    if state in (_D.PLANNED, _D.RUNNING, *waiting) and not winding_down:
        found.append("pause")
    if state == _D.PAUSED:
        found.append("resume")
    if (
        shown["params"].get("confirm_waves")
        and unconfirmed
        and state in (_D.PLANNED, _D.RUNNING, _D.PAUSED, *waiting)
    ):
        found.append("confirm")
    if state in ACTIVE and not winding_down:
        found.append("abort")
    if failed and state in (
        _D.RUNNING,
        _D.PAUSED,
        _D.WAITING_FOR_CONFIRMATION,
        _D.HALTED,
        _D.FAILED,
    ):
        found.append("retry")
    if state not in (_D.ROLLED_BACK, _D.ABORTED) and not shown["rollback_requested"]:
        found.append("rollback")
    return found


def _buttons(viewer: Viewer, shown: dict[str, Any]) -> list[dict[str, str]]:
    return [
        {"verb": verb, "label": DECISIONS[verb][1]}
        for verb in applicable(shown)
        if viewer.may(DECISIONS[verb][0])
    ]


def _progress(shown: dict[str, Any]) -> dict[str, int]:
    total = sum(len(wave["targets"]) for wave in shown["waves"])
    counts = shown["counts"]
    done = sum(counts.get(s, 0) for s in ("succeeded", "failed", "rolled_back", "skipped"))
    return {"total": total, "done": done, "percent": round(100 * done / total) if total else 0}


@router.get("/deployments", response_class=HTMLResponse)
def deployment_list(
    request: Request,
    viewer: Signed,
    state: str = "",
    environment: str = "",
) -> Response:
    viewer.require(Permission.DEPLOYMENTS_READ)
    wanted = _D(state) if state in {s.value for s in _D} else None
    with database_of(request).reading() as session:
        environments = [e.name for e in list_environments(session, limit=1000, offset=0)]
        found = service.list_deployments(
            session,
            state=wanted,
            environment=environment if environment in environments else None,
            limit=200,
            offset=0,
        )
        items = [d.as_dict() for d in found]
    return render(
        request,
        "deployments.html",
        {
            "items": items,
            "states": [s.value for s in _D],
            "environments": environments,
            "chosen": {"state": state, "environment": environment},
        },
        viewer=viewer,
    )


def _deployment_page(
    request: Request,
    viewer: Viewer,
    deployment_id: int,
    *,
    template: str = "deployment.html",
    notice: str | None = None,
    error: GoliveError | None = None,
) -> HTMLResponse:
    viewer.require(Permission.DEPLOYMENTS_READ)
    with database_of(request).reading() as session:
        shown = service.describe(session, service.get_deployment(session, deployment_id))
    return render(
        request,
        template,
        {
            "d": shown,
            "buttons": _buttons(viewer, shown),
            "progress": _progress(shown),
            "is_final": _D(shown["state"]).is_final,
            "notice": notice,
            "error": error,
        },
        viewer=viewer,
        status_code=error.http_status if error is not None else 200,
    )


@router.get("/deployments/new", response_class=HTMLResponse)
def new_deployment(
    request: Request,
    viewer: Signed,
    versions: str = "",
    environment: str = "",
    change_ref: str = "",
) -> Response:
    viewer.require(Permission.DEPLOYMENTS_RUN)
    prefilled = {"versions": versions, "environment": environment, "change_ref": change_ref}
    return _form(request, viewer, prefilled)


def _form(
    request: Request,
    viewer: Viewer,
    values: dict[str, Any],
    *,
    plan: dict[str, Any] | None = None,
    error: GoliveError | None = None,
) -> HTMLResponse:
    with database_of(request).reading() as session:
        environments = [e.name for e in list_environments(session, limit=1000, offset=0)]
        approved = session.scalars(
            select(Version).where(Version.status == VersionStatus.APPROVED.value)
        ).all()
        refs = sorted(version.ref for version in approved)
    return render(
        request,
        "deployment_new.html",
        {
            "values": {name: "" for name in FORM_FIELDS} | values,
            "environments": environments,
            "refs": refs,
            "strategies": STRATEGIES,
            "plan": plan,
            "error": error,
        },
        viewer=viewer,
        status_code=error.http_status if error is not None else 200,
    )


def _hooks(text: str) -> dict[str, str]:
    """One hook a line, ``name=command`` (the command may hold commas and ``=``)."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, sep, command = line.partition("=")
        if not sep or not name.strip() or not command.strip():
            raise InvalidInputError(f"hooks: write each as name=command; got {line.strip()!r}")
        found[name.strip()] = command.strip()
    return found


def spec_from_form(form: dict[str, str]) -> dict[str, Any]:
    """The deployments API's request body from the console's form fields."""
    versions = [v for v in form.get("versions", "").replace(",", " ").split() if v]
    names = [n for n in form.get("targets", "").replace(",", " ").split() if n]
    body: dict[str, Any] = {
        "versions": versions,
        "environment": form.get("environment", ""),
        "targets": {"names": names, "labels": pairs(form.get("labels", ""), "labels")},
        "strategy": form.get("strategy", "big_bang"),
        "waves": form.get("waves", "").strip(),
        "bake": form.get("bake", "").strip() or "0s",
        "max_failures": form.get("max_failures", "").strip() or "0",
        "confirm_waves": form.get("confirm_waves") == "on",
        "rollback_on_failure": form.get("rollback_on_failure") == "on",
        "all_or_nothing": form.get("all_or_nothing") == "on",
        "hooks": _hooks(form.get("hooks", "")),
    }
    if form.get("change_ref", "").strip():
        body["change_ref"] = form["change_ref"].strip()
    return body


FORM_FIELDS = (
    "versions",
    "environment",
    "targets",
    "labels",
    "strategy",
    "waves",
    "bake",
    "max_failures",
    "confirm_waves",
    "rollback_on_failure",
    "all_or_nothing",
    "hooks",
    "change_ref",
    "intent",
)


@router.post("/deployments", response_class=HTMLResponse)
async def start_deployment(request: Request, viewer: Signed) -> Response:
    viewer.require(Permission.DEPLOYMENTS_RUN)
    return await _start(request, viewer, await form_fields(request, FORM_FIELDS))


async def _start(request: Request, viewer: Viewer, form: dict[str, str]) -> Response:
    try:
        body = spec_from_form(form)
        body["dry_run"] = form.get("intent") == "plan"
        spec = validated(deployments_api.DeploymentCreate, body)
        shown = await run_in_threadpool(
            deployments_api.create_deployment, spec, database_of(request), viewer.actor
        )
    except GoliveError as exc:
        return await run_in_threadpool(_form, request, viewer, form, error=exc)
    if spec.dry_run:
        return await run_in_threadpool(_form, request, viewer, form, plan=shown)
    return redirect(f"{PREFIX}/deployments/{shown['id']}?done=created")


@router.get("/deployments/{deployment_id}", response_class=HTMLResponse)
def deployment_page(
    request: Request, viewer: Signed, deployment_id: int, done: str = ""
) -> Response:
    return _deployment_page(request, viewer, deployment_id, notice=DONE.get(done))


@router.get("/deployments/{deployment_id}/live", response_class=HTMLResponse)
def deployment_live(request: Request, viewer: Signed, deployment_id: int) -> Response:
    """The part of the page that changes, for htmx to swap in every second."""
    return _deployment_page(request, viewer, deployment_id, template="deployment_live.html")


@router.post("/deployments/{deployment_id}/{verb}", response_class=HTMLResponse)
def decide(
    request: Request,
    viewer: Signed,
    deployment_id: int,
    verb: str,
    reason: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    if verb not in DECISIONS:
        raise InvalidInputError(f"no such decision {verb!r}; one of {', '.join(DECISIONS)}")
    permission, _label, act = DECISIONS[verb]
    viewer.require(permission)
    decision = deployments_api.Decision(reason=reason.strip() or None)
    try:
        act(deployment_id, database_of(request), viewer.actor, decision)
    except GoliveError as exc:
        if exc.http_status == 404:
            raise
        return _deployment_page(request, viewer, deployment_id, error=exc)
    return redirect(f"{PREFIX}/deployments/{deployment_id}?done={verb}")
