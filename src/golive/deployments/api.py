"""Deployment endpoints: /api/v1/deployments, a target's history, where a component is."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import Field

from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.deployments import service, strategies
from golive.deployments.models import DeploymentState
from golive.inventory.schemas import Labels, StrictModel
from golive.validation import FromString, ShortText, Slug

router = APIRouter(prefix="/api/v1", tags=["deployments"])
Reader = Annotated[Actor, Depends(require(Permission.DEPLOYMENTS_READ))]
Runner = Annotated[Actor, Depends(require(Permission.DEPLOYMENTS_RUN))]
Confirmer = Annotated[Actor, Depends(require(Permission.DEPLOYMENTS_CONFIRM))]
HistoryReader = Annotated[Actor, Depends(require(Permission.INVENTORY_READ))]
Obj = dict[str, Any]


class TargetSelector(StrictModel):
    names: Annotated[list[Slug], Field(max_length=100_000)] = Field(default_factory=list)
    labels: Labels = Field(default_factory=dict)


class DeploymentCreate(StrictModel):
    versions: Annotated[list[ShortText], Field(min_length=1, max_length=50)]
    environment: Slug
    targets: TargetSelector = Field(default_factory=TargetSelector)
    strategy: ShortText = "big_bang"
    waves: ShortText = ""
    bake: ShortText = "0s"
    max_failures: ShortText = "0"
    confirm_waves: bool = False
    all_or_nothing: bool = False
    rollback_on_failure: bool = False
    offline_timeout: ShortText = "10m"
    offline_policy: ShortText = "skip"
    action: ShortText = "install"
    hooks: Annotated[
        dict[ShortText, Annotated[str, Field(max_length=4000)]], Field(max_length=8)
    ] = Field(default_factory=dict)
    hook_timeout_seconds: Annotated[int, Field(ge=1, le=86_400)] = 300
    change_ref: ShortText | None = None
    release_ref: ShortText | None = None
    planned_start: Annotated[datetime, FromString] | None = None
    dry_run: bool = False


class Decision(StrictModel):
    reason: ShortText | None = None


@router.post("/deployments", status_code=201, summary="Plan a deployment (or only show the plan)")
def create_deployment(spec: DeploymentCreate, db: DB, actor: Runner) -> Obj:
    refs = [service.parse_ref(text) for text in spec.versions]
    params = strategies.parse_params(
        spec.strategy,
        waves=spec.waves,
        bake=spec.bake,
        max_failures=spec.max_failures,
        confirm_waves=spec.confirm_waves,
        all_or_nothing=spec.all_or_nothing,
        rollback_on_failure=spec.rollback_on_failure,
        offline_timeout=spec.offline_timeout,
        offline_policy=spec.offline_policy,
    )
    common: dict[str, Any] = {
        "refs": refs,
        "environment": spec.environment,
        "names": spec.targets.names,
        "labels": spec.targets.labels,
        "params": params,
        "action": spec.action,
    }
    if spec.dry_run:
        with db.reading() as session:
            return service.dry_run_plan(session, **common)
    with db.writing() as session:
        created = service.create_deployment(
            session,
            actor,
            hooks=spec.hooks,
            hook_timeout_seconds=spec.hook_timeout_seconds,
            change_ref=spec.change_ref,
            release_ref=spec.release_ref,
            planned_start=spec.planned_start,
            **common,
        )
        return service.describe(session, created)


@router.get("/deployments", summary="List deployments, newest first")
def list_deployments(
    db: DB,
    _actor: Reader,
    state: Annotated[DeploymentState | None, Query()] = None,
    environment: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_deployments(
            session, state=state, environment=environment, limit=limit, offset=offset
        )
        items = [d.as_dict() for d in found]
    return page(items, limit, offset)


@router.get("/deployments/{deployment_id}", summary="Show a deployment: waves, targets, events")
def show_deployment(deployment_id: int, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.describe(session, service.get_deployment(session, deployment_id))


def _decide(db: DB, verb: str, deployment_id: int, actor: Actor, spec: Decision | None) -> Obj:
    decisions = {
        "pause": service.pause,
        "resume": service.resume,
        "abort": service.abort,
        "confirm": service.confirm_wave,
        "retry": service.retry_failed,
        "rollback": service.request_rollback,
    }
    with db.writing() as session:
        changed = decisions[verb](
            session, actor, deployment_id, spec.reason if spec is not None else None
        )
        return service.describe(session, changed)


@router.post("/deployments/{deployment_id}/pause", summary="Start nothing new")
def pause(deployment_id: int, db: DB, actor: Runner, spec: Decision | None = None) -> Obj:
    return _decide(db, "pause", deployment_id, actor, spec)


@router.post("/deployments/{deployment_id}/resume", summary="Carry on after a pause")
def resume(deployment_id: int, db: DB, actor: Runner, spec: Decision | None = None) -> Obj:
    return _decide(db, "resume", deployment_id, actor, spec)


@router.post("/deployments/{deployment_id}/abort", summary="Skip what has not started and stop")
def abort(deployment_id: int, db: DB, actor: Runner, spec: Decision | None = None) -> Obj:
    return _decide(db, "abort", deployment_id, actor, spec)


@router.post("/deployments/{deployment_id}/confirm", summary="Let the next wave begin")
def confirm(deployment_id: int, db: DB, actor: Confirmer, spec: Decision | None = None) -> Obj:
    return _decide(db, "confirm", deployment_id, actor, spec)


@router.post("/deployments/{deployment_id}/retry", summary="Run the failed targets again")
def retry(deployment_id: int, db: DB, actor: Runner, spec: Decision | None = None) -> Obj:
    return _decide(db, "retry", deployment_id, actor, spec)


@router.post(
    "/deployments/{deployment_id}/rollback", summary="Put targets back on their last good version"
)
def rollback(deployment_id: int, db: DB, actor: Runner, spec: Decision | None = None) -> Obj:
    return _decide(db, "rollback", deployment_id, actor, spec)


@router.get("/targets/{name}/history", summary="What was deployed on a target, newest first")
def target_history(
    name: str, db: DB, _actor: HistoryReader, limit: Limit = 100, offset: Offset = 0
) -> Obj:
    with db.reading() as session:
        items = service.target_history(session, name, limit=limit, offset=offset)
    return page(items, limit, offset)


@router.get("/components/{name}/where", summary="Which version is on which target")
def component_where(name: str, db: DB, _actor: HistoryReader) -> Obj:
    with db.reading() as session:
        return service.where_installed(session, name)
