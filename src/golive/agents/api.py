"""Agent endpoints (docs/agent-protocol.md) and the records they keep.

- ``/api/v1/agent/enrollment-tokens``: admins create and revoke enrollment tokens.
- ``/api/v1/agent/register|desired|report|inventory``: the agent's own calls, which
  authenticate with an enrollment token (``gle_``) or the agent's credential (``gla_``),
  never with a golive API token.
- ``/api/v1/targets/{name}/revoke-agent|installed`` and ``/api/v1/assignments``.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CollectorRegistry, Gauge
from pydantic import TypeAdapter, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from golive.agents import service
from golive.agents.batch import AgentReport, GroupWriter, HandOut, HandOutAnswer, ReportAnswer
from golive.agents.checkin import CheckInReader, CheckInRow
from golive.agents.rules import AssignmentState, etag, etag_matches, revoked
from golive.agents.schemas import (
    EnrollmentTokenCreate,
    Inventory,
    Registration,
    Report,
    ReportBatch,
)
from golive.agents.waiting import MAX_WAIT_SECONDS, ChangeWatch
from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor, hash_secret
from golive.errors import (
    AuthenticationError,
    ConflictError,
    GoliveError,
    InvalidInputError,
    NotFoundError,
)
from golive.media.tuf_repo import TufRepository


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    reader = CheckInReader(app.state.db)
    app.state.agent_checkin = reader
    app.state.agent_writer = GroupWriter(app.state.db)
    app.state.agent_waiting = ChangeWatch(app.state.db)
    try:
        yield
    finally:
        app.state.agent_waiting.close()
        app.state.agent_writer.close()
        reader.dispose()


# The check-in (``desired``) and the outbox (``_reports``) are served by ``AgentFastPath``,
# which the app puts in front of its router; ``router`` documents them in the OpenAPI
# description and serves them in an app without it.
router = APIRouter(prefix="/api/v1", tags=["agents"], lifespan=_lifespan)
DESIRED_PATH = "/api/v1/agent/desired"

Reader = Annotated[Actor, Depends(require(Permission.INVENTORY_READ))]
TargetWriter = Annotated[Actor, Depends(require(Permission.TARGETS_WRITE))]
Obj = dict[str, Any]

enrollment_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="EnrollmentToken",
    description="An enrollment token (gle_…) from `golive targets enroll-token`.",
)
agent_bearer = HTTPBearer(
    auto_error=False,
    scheme_name="AgentCredential",
    description="The agent's credential (gla_…) issued at registration.",
)


def _enrollment(
    db: DB,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(enrollment_bearer)],
) -> int:
    if credentials is None:
        raise AuthenticationError(
            "registration needs an enrollment token: send 'Authorization: Bearer gle_…'"
        )
    with db.reading() as session:
        return service.authenticate_enrollment(session, credentials.credentials)


EnrollmentId = Annotated[int, Depends(_enrollment)]


# --- enrollment ----------------------------------------------------------------


@router.post(
    "/agent/enrollment-tokens",
    status_code=201,
    summary="Create an enrollment token (its secret is shown once)",
)
def create_enrollment_token(spec: EnrollmentTokenCreate, db: DB, actor: TargetWriter) -> Obj:
    with db.writing() as session:
        token, secret = service.create_enrollment_token(session, actor, spec)
        return {**token.as_dict(), "token": secret}


@router.post(
    "/agent/enrollment-tokens/{token_id}/revoke",
    summary="Revoke an enrollment token (agents already enrolled keep working)",
)
def revoke_enrollment_token(token_id: int, db: DB, actor: TargetWriter) -> Obj:
    with db.writing() as session:
        return service.revoke_enrollment_token(session, actor, token_id).as_dict()


@router.post(
    "/agent/register",
    status_code=201,
    summary="An agent enrolls: 201 for a new target, 200 for the same key again",
)
def register(
    spec: Registration, request: Request, response: Response, db: DB, enrollment: EnrollmentId
) -> Obj:
    with db.writing() as session:
        registered = service.register_agent(session, enrollment, spec)
        target = registered.target
        body: Obj = {
            "target": target.name,
            "environment": target.environment.name,
            "credential": registered.credential,
        }
    tuf: TufRepository = request.app.state.tuf
    body["tuf_root"] = json.loads(tuf.root_json(1))
    body["poll_interval_seconds"] = service.POLL_INTERVAL_SECONDS
    request.state.actor = f"agent:{target.name}"
    if not registered.created:
        response.status_code = 200
    return body


@router.post(
    "/targets/{name}/revoke-agent",
    summary="Revoke a target's agent: every later call of it is 401 target_revoked",
)
def revoke_agent(name: str, db: DB, actor: TargetWriter) -> Obj:
    with db.writing() as session:
        return service.revoke_agent(session, actor, name)


# --- the agent's calls ---------------------------------------------------------


def _bearer_secret(header: str | None) -> str:
    scheme, _, secret = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not secret:
        raise AuthenticationError(
            "this endpoint needs an agent credential: send 'Authorization: Bearer gla_…'"
        )
    if not secret.startswith(service.CREDENTIAL_PREFIX):
        raise AuthenticationError("this endpoint needs an agent credential (gla_…)")
    return secret.strip()


def watch_agents(app: FastAPI, registry: CollectorRegistry) -> None:
    """Publish in ``registry`` how many agents are waiting in a check-in right now."""

    def waiting() -> int:
        watch: ChangeWatch | None = getattr(app.state, "agent_waiting", None)
        return watch.waiting if watch is not None else 0

    Gauge(
        "golive_agent_check_ins_waiting",
        "Agents' check-ins held open (?wait=) until their desired state changes.",
        registry=registry,
    ).set_function(waiting)


def release_waiting(app: FastAPI) -> None:
    """Answer the agents' waiting check-ins now (the server is stopping); thread-safe."""
    watch: ChangeWatch | None = getattr(app.state, "agent_waiting", None)
    if watch is not None:
        watch.close_soon()


def _checkin_reader(request: Request) -> CheckInReader:
    reader: CheckInReader | None = getattr(request.app.state, "agent_checkin", None)
    if reader is None:  # an app run without its lifespan: share the main engine
        reader = CheckInReader(request.app.state.db, own_pool=False)
        request.app.state.agent_checkin = reader
    return reader


def _writer(request: Request) -> GroupWriter:
    writer: GroupWriter | None = getattr(request.app.state, "agent_writer", None)
    if writer is None:  # an app run without its lifespan
        writer = request.app.state.agent_writer = GroupWriter(request.app.state.db)
    return writer


def _waiting(request: Request) -> ChangeWatch:
    watch: ChangeWatch | None = getattr(request.app.state, "agent_waiting", None)
    if watch is None:  # an app run without its lifespan
        watch = request.app.state.agent_waiting = ChangeWatch(request.app.state.db)
    return watch


async def _identify(request: Request) -> CheckInRow:
    """The calling agent's row (``checkin.CheckInRow``), from its ``gla_`` credential.

    Raises:
        AuthenticationError: no agent credential, an unknown one, or a revoked one.
    """
    secret = _bearer_secret(request.headers.get("authorization"))
    reader = _checkin_reader(request)
    secret_hash = hash_secret(secret)
    if reader.blocks_briefly:
        row = reader.lookup(secret_hash)
    else:
        row = await run_in_threadpool(reader.lookup, secret_hash)
    if row is None:
        raise AuthenticationError("the agent credential is not valid")
    if row[1] is not None:
        raise revoked()
    request.state.actor = f"agent:{row[4]}"
    return row


def _wait_seconds(request: Request) -> float:
    given = request.query_params.get("wait")
    if given is None:
        return 0.0
    try:
        seconds = float(given)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise InvalidInputError(
            f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS}, not {given!r}"
        )
    return seconds


@router.get(
    "/agent/desired",
    summary="The agent's check-in: its unfinished assignments, or 304 when nothing changed",
    response_class=JSONResponse,
    responses={
        304: {"description": "Nothing changed since the ETag sent in If-None-Match."},
        401: {"description": "Not an agent credential, or revoked (code target_revoked)."},
    },
    openapi_extra={
        "parameters": [
            {"name": "If-None-Match", "in": "header", "schema": {"type": "string"}},
            {"name": "X-Golive-Inventory", "in": "header", "schema": {"type": "string"}},
            {
                "name": "wait",
                "in": "query",
                "description": "Hold an unchanged check-in up to this many seconds and "
                f"answer as soon as something changes (0 to {MAX_WAIT_SECONDS}).",
                "schema": {"type": "number", "minimum": 0, "maximum": MAX_WAIT_SECONDS},
            },
        ],
        "security": [{"AgentCredential": []}],
    },
)
async def desired(request: Request) -> Response:
    # The hot path of the whole fleet: headers read directly, one pre-compiled indexed
    # read, no ORM and no write when nothing changed (see agents/checkin.py).
    headers = request.headers
    wait = _wait_seconds(request)
    target_id, _, generation, recorded_inventory, name = await _identify(request)
    deadline = time.monotonic() + wait
    reported_inventory = headers.get("x-golive-inventory")
    known: tuple[str, int, str | None] | None = None
    while True:
        current = etag(target_id, generation)
        unchanged = (
            reported_inventory is None or reported_inventory == recorded_inventory
        ) and etag_matches(headers.get("if-none-match"), current)
        if not unchanged:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            return Response(status_code=304, headers={"ETag": current})
        if not await _waiting(request).wait(target_id, generation, recorded_inventory, left):
            return Response(status_code=304, headers={"ETag": current})
        # The agent may have been revoked while it waited (revocation wakes it too):
        # identify it again, which also reads what moved; only the assignments are left.
        target_id, _, generation, recorded_inventory, name = await _identify(request)
        known = (name, generation, recorded_inventory)
    reader = _checkin_reader(request)
    if reader.blocks_briefly:
        state = reader.desired(target_id, known)
    else:
        state = await run_in_threadpool(reader.desired, target_id, known)
    if state.has_pending:
        handed: HandOutAnswer = await asyncio.wrap_future(
            _writer(request).submit(HandOut(target_id, state.etag))
        )
        state = state.handed_out(handed.dispatched, handed.etag)
    answer = state.as_body(reported_inventory)
    return JSONResponse(answer, headers={"ETag": answer["etag"]})


async def _read_json(request: Request) -> Any:
    try:
        return json.loads(await request.body())
    except (ValueError, UnicodeDecodeError):
        raise InvalidInputError("the body must be JSON") from None


async def _apply(
    request: Request,
    reports: Sequence[Report],
    inventory: Inventory | None = None,
    seen_etag: str | None = None,
) -> ReportAnswer:
    """The calling agent's reports and inventory, applied by the group writer, which
    also checks its credential (in the batch's transaction: one read for all)."""
    secret_hash = hash_secret(_bearer_secret(request.headers.get("authorization")))
    call = AgentReport(secret_hash, reports, inventory, seen_etag)
    answer: ReportAnswer | GoliveError = await asyncio.wrap_future(_writer(request).submit(call))
    if isinstance(answer, GoliveError):
        raise answer
    request.state.actor = f"agent:{answer.target}"
    return answer


async def _deliver(request: Request, spec: ReportBatch) -> Response:
    answer = await _apply(request, spec.reports, spec.inventory, spec.etag)
    return JSONResponse(answer.as_body())


@router.post(
    "/agent/reports",
    summary="An agent delivers its outbox: its reports in order, and its inventory, in one call",
    response_class=JSONResponse,
    dependencies=[Depends(agent_bearer)],
)
async def reports(spec: ReportBatch, request: Request) -> Response:
    return await _deliver(request, spec)


async def _reports(request: Request) -> Response:
    # The same call for AgentFastPath, like the check-in: a whole fleet reports through it.
    _bearer_secret(request.headers.get("authorization"))  # 401 before the body is read
    try:
        spec = _BATCH.validate_python(await _read_json(request))
    except ValidationError as problem:
        raise InvalidInputError(
            "the reports are not valid: "
            + "; ".join(
                f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
                for error in problem.errors()[:5]
            ),
            details={"errors": problem.errors(include_url=False, include_context=False)},
        ) from None
    return await _deliver(request, spec)


REPORTS_PATH = "/api/v1/agent/reports"
_BATCH = TypeAdapter(ReportBatch)


class AgentFastPath:
    """ASGI middleware that hands the fleet's two busiest calls (the check-in and the
    outbox) straight to their handlers.

    Inside the app's own middleware (metrics, access log, body limit), but before
    FastAPI's exception and dependency layers and its router, which walks every
    included router's routes on each request. A ``GoliveError`` becomes the same JSON
    error answer as anywhere else (``render_error``); anything else goes on up to the
    app's error handling.
    """

    def __init__(self, app: ASGIApp, render_error: Callable[[GoliveError], Response]) -> None:
        self.app = app
        self.render_error = render_error
        self.routes: dict[tuple[str, str], Callable[[Request], Awaitable[Response]]] = {
            ("GET", DESIRED_PATH): desired,
            ("POST", REPORTS_PATH): _reports,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            handler = self.routes.get((scope["method"], scope["path"]))
            if handler is not None:
                request = Request(scope, receive)
                try:
                    response = await handler(request)
                except GoliveError as problem:
                    response = self.render_error(problem)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


@router.post(
    "/agent/report",
    summary="An agent reports an assignment's new state",
    dependencies=[Depends(agent_bearer)],
)
async def report(spec: Report, request: Request) -> Obj:
    answer = await _apply(request, [spec])
    [refusal] = answer.refusals
    if refusal is not None:
        raise _ERRORS[refusal.code](refusal.message, details=refusal.details)
    return {"assignment_id": spec.assignment_id, "state": answer.results[0]["state"]}


@router.post(
    "/agent/inventory",
    summary="An agent records what it found installed",
    dependencies=[Depends(agent_bearer)],
)
async def inventory(spec: Inventory, request: Request) -> Obj:
    answer = await _apply(request, [], spec)
    return {"recorded": True, "digest": answer.inventory_digest}


_ERRORS: dict[str, type[GoliveError]] = {
    error.code: error for error in (InvalidInputError, NotFoundError, ConflictError)
}


# --- what is installed, and assignments ------------------------------------------


@router.get(
    "/targets/{name}/installed",
    summary="What is installed on a target, against what its agent reported",
)
def installed(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.installed_on(session, name)


@router.get("/assignments", summary="List assignments, newest first, by target and state")
def list_assignments(
    db: DB,
    _actor: Reader,
    target: str | None = None,
    state: AssignmentState | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_assignments(
            session, target=target, state=state, limit=limit, offset=offset
        )
        items = [a.as_dict() for a in found]
    return page(items, limit, offset)


@router.get("/assignments/{assignment_id}", summary="Show an assignment with its history")
def show_assignment(assignment_id: int, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_assignment(session, assignment_id).as_dict(with_events=True)
