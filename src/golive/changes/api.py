"""Change control endpoints: /api/v1/changes, /change-authorities, /change-models."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response

from golive.api.deps import DB, Limit, Offset, current_actor, feed_actor, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.changes import calendar, figures, service
from golive.changes.rules import ChangeState, ChangeType
from golive.changes.schemas import (
    AuthorityCreate,
    AuthorityUpdate,
    ChangeCreate,
    ChangeUpdate,
    DecisionIn,
    ModelCreate,
    ModelUpdate,
    Outcome,
    Reasoned,
    WindowCreate,
)
from golive.db import utcnow

router = APIRouter(prefix="/api/v1", tags=["changes"])

Reader = Annotated[Actor, Depends(require(Permission.CHANGES_READ))]
Requester = Annotated[Actor, Depends(require(Permission.CHANGES_REQUEST))]
Reviewer = Annotated[Actor, Depends(require(Permission.CHANGES_DECIDE))]
Configurer = Annotated[Actor, Depends(require(Permission.CHANGES_CONFIGURE))]
# Who may decide is the change's authorities' rule (roles and named people), checked by
# the service; a role alone does not make anyone a decider.
Anyone = Annotated[Actor, Depends(current_actor)]
FeedReader = Annotated[Actor, Depends(feed_actor)]
From = Annotated[datetime | None, Query(alias="from", description="Start (ISO 8601, with offset).")]
To = Annotated[datetime | None, Query(alias="to", description="End (ISO 8601, with offset).")]

Obj = dict[str, Any]


# --- change requests -------------------------------------------------------------------


@router.get("/changes", summary="List change requests, newest first")
def list_changes(
    db: DB,
    _actor: Reader,
    state: Annotated[ChangeState | None, Query()] = None,
    type: Annotated[ChangeType | None, Query()] = None,
    environment: str | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_changes(
            session,
            state=state,
            change_type=type,
            environment=environment,
            limit=limit,
            offset=offset,
        )
        return page(service.summaries(found), limit, offset)


@router.post("/changes", status_code=201, summary="Raise a change request (a draft, or submitted)")
def create_change(spec: ChangeCreate, db: DB, actor: Requester) -> Obj:
    with db.writing() as session:
        return service.create_change(session, actor, spec).as_dict()


@router.get("/changes/inbox", summary="Submitted changes waiting for my decision")
def inbox(db: DB, actor: Reader, limit: Limit = 100, offset: Offset = 0) -> Obj:
    with db.reading() as session:
        found = service.inbox(session, actor, limit=limit, offset=offset)
        return page(service.summaries(found), limit, offset)


@router.get("/changes/{ref}", summary="Show a change request with its decisions")
def show_change(ref: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        change = service.get_change(session, ref)
        shown = change.as_dict()
        shown["authorisation"] = service.standing(session, change).describe()
        shown["authorities"] = [a.name for a in service.authorities_of(session, change)]
        return shown


@router.patch("/changes/{ref}", summary="Edit a draft change request")
def update_change(ref: str, spec: ChangeUpdate, db: DB, actor: Requester) -> Obj:
    with db.writing() as session:
        return service.update_change(session, actor, ref, spec).as_dict()


@router.post("/changes/{ref}/submit", summary="Ask the change authority to decide")
def submit(ref: str, db: DB, actor: Requester) -> Obj:
    with db.writing() as session:
        return service.submit_change(session, actor, ref).as_dict()


@router.post(
    "/changes/{ref}/decisions",
    summary="Approve or reject (members of the change's authority; never one's own change)",
)
def decide(ref: str, spec: DecisionIn, db: DB, actor: Anyone) -> Obj:
    with db.writing() as session:
        return service.decide(session, actor, ref, spec.decision, spec.reason).as_dict()


@router.post("/changes/{ref}/cancel", summary="Cancel a change that has not been implemented")
def cancel(ref: str, spec: Reasoned, db: DB, actor: Requester) -> Obj:
    with db.writing() as session:
        return service.cancel_change(session, actor, ref, spec.reason).as_dict()


@router.post("/changes/{ref}/implemented", summary="Record that the work is done")
def implemented(ref: str, spec: Outcome, db: DB, actor: Requester) -> Obj:
    with db.writing() as session:
        return service.implement_change(session, actor, ref, spec.outcome, spec.reason).as_dict()


@router.post("/changes/{ref}/review", summary="Review an implemented emergency change")
def review(ref: str, spec: Reasoned, db: DB, actor: Reviewer) -> Obj:
    with db.writing() as session:
        return service.review_change(session, actor, ref, spec.reason).as_dict()


@router.post("/changes/{ref}/close", summary="Close an implemented change")
def close(ref: str, spec: Reasoned, db: DB, actor: Requester) -> Obj:
    with db.writing() as session:
        return service.close_change(session, actor, ref, spec.reason).as_dict()


# --- change authorities ----------------------------------------------------------------


@router.get("/change-authorities", summary="Who decides which changes")
def list_authorities(db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        items = [a.as_dict() for a in service.list_authorities(session)]
    return {"items": items, "next_offset": None}


@router.post("/change-authorities", status_code=201, summary="Set up a change authority")
def create_authority(spec: AuthorityCreate, db: DB, actor: Configurer) -> Obj:
    with db.writing() as session:
        return service.create_authority(session, actor, spec).as_dict()


@router.get("/change-authorities/{name}", summary="Show a change authority")
def show_authority(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_authority(session, name).as_dict()


@router.patch("/change-authorities/{name}", summary="Change who decides, and how many")
def update_authority(name: str, spec: AuthorityUpdate, db: DB, actor: Configurer) -> Obj:
    with db.writing() as session:
        return service.update_authority(session, actor, name, spec).as_dict()


@router.delete("/change-authorities/{name}", status_code=204, summary="Remove a change authority")
def delete_authority(name: str, db: DB, actor: Configurer) -> None:
    with db.writing() as session:
        service.delete_authority(session, actor, name)


# --- standard change models -------------------------------------------------------------


@router.get("/change-models", summary="Standard change models (pre-authorised templates)")
def list_models(db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        items = [m.as_dict() for m in service.list_models(session)]
    return {"items": items, "next_offset": None}


@router.post("/change-models", status_code=201, summary="Define a standard change model")
def create_model(spec: ModelCreate, db: DB, actor: Configurer) -> Obj:
    with db.writing() as session:
        return service.create_model(session, actor, spec).as_dict()


@router.get("/change-models/{name}", summary="Show a standard change model")
def show_model(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_model(session, name).as_dict()


@router.patch("/change-models/{name}", summary="Change or retire a standard change model")
def update_model(name: str, spec: ModelUpdate, db: DB, actor: Configurer) -> Obj:
    with db.writing() as session:
        return service.update_model(session, actor, name, spec).as_dict()


# --- windows and the schedule ------------------------------------------------------------


@router.get("/windows", summary="Allow (maintenance) and deny (freeze) windows")
def list_windows(
    db: DB,
    _actor: Reader,
    kind: Annotated[str | None, Query(pattern="^(allow|deny)$")] = None,
) -> Obj:
    since, until = calendar.span(None, None)
    with db.reading() as session:
        items = [
            calendar.describe_window(w, since, until)
            for w in calendar.list_windows(session, kind=kind)
        ]
    return {"items": items, "next_offset": None}


@router.post("/windows", status_code=201, summary="Define a window (one-off or RRULE)")
def create_window(spec: WindowCreate, db: DB, actor: Configurer) -> Obj:
    since, until = calendar.span(None, None)
    with db.writing() as session:
        record = calendar.create_window(session, actor, spec.definition(), spec.description)
        return calendar.describe_window(record, since, until)


@router.get("/windows/{name}", summary="Show a window and its next occurrences")
def show_window(name: str, db: DB, _actor: Reader) -> Obj:
    since, until = calendar.span(None, None)
    with db.reading() as session:
        return calendar.describe_window(calendar.get_window(session, name), since, until)


@router.delete("/windows/{name}", status_code=204, summary="Remove a window")
def delete_window(name: str, db: DB, actor: Configurer, reason: str = "") -> None:
    with db.writing() as session:
        calendar.delete_window(session, actor, name, reason)


@router.get(
    "/schedule",
    summary="Planned and running deployments, changes and windows, with their conflicts",
)
def schedule(db: DB, _actor: Reader, since: From = None, until: To = None) -> Obj:
    with db.reading() as session:
        return calendar.schedule(session, since, until).as_dict()


@router.get(
    "/schedule.ics",
    summary="The schedule as an iCalendar feed (subscribe with ?token=…)",
    response_class=Response,
)
def schedule_ics(db: DB, actor: FeedReader, since: From = None, until: To = None) -> Response:
    actor.require(Permission.CHANGES_READ)
    with db.reading() as session:
        body = calendar.ics(calendar.schedule(session, since, until))
    return Response(body, media_type="text/calendar; charset=utf-8")


Measurer = Annotated[Actor, Depends(require(Permission.METRICS_READ))]


@router.get(
    "/metrics/practice",
    summary="Figures of the practice: authorised share, inside windows, emergencies, "
    "deviations, time to decision",
)
def practice(db: DB, _actor: Measurer, since: From = None, until: To = None) -> Obj:
    end = until or utcnow()
    begin, end = calendar.span(since or end - calendar.DEFAULT_SPAN, end)
    with db.reading() as session:
        return figures.practice(session, begin, end)
