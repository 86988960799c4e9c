"""Assemble the golive HTTP application from each concept's router."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException

from golive import __version__
from golive.agents.api import AgentFastPath, watch_agents
from golive.agents.api import router as agents_router
from golive.api.deps import require
from golive.api.middleware import BodyLimitMiddleware, Metrics, ObserveMiddleware
from golive.audit.api import router as audit_router
from golive.auth.api import router as auth_router
from golive.auth.roles import Permission
from golive.changes.api import router as changes_router
from golive.db import Database
from golive.deployments.api import router as deployments_router
from golive.deployments.engine import keep_deploying
from golive.deployments.executors.ssh_dispatch import SshDispatcher, keep_dispatching
from golive.deployments.executors.ssh_endpoints import router as ssh_router
from golive.errors import GoliveError
from golive.hardware.api import router as hardware_router
from golive.integrations.api import router as integrations_router
from golive.integrations.webhooks import start_delivering
from golive.inventory.api import router as inventory_router
from golive.media.api import router as media_router
from golive.media.publication import publish_library
from golive.media.storage import open_blob_store
from golive.media.tuf_api import router as tuf_router
from golive.media.tuf_repo import TufRepository, keep_fresh
from golive.settings import Settings
from golive.validation import PATTERN_RULES
from golive.web import mount as mount_console
from golive.workorders.api import router as work_orders_router

log = logging.getLogger("golive.api")
# Endpoints whose body is a file streamed to disk rather than JSON held in memory.
UPLOADS = re.compile(r"^/api/v1/components/[^/]+/versions(/[^/]+/attachments)?$")

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def _golive_error_response(exc: GoliveError) -> JSONResponse:
    headers = {"WWW-Authenticate": "Bearer"} if exc.http_status == 401 else None
    return _error(exc.http_status, exc.code, exc.message, exc.details, headers)


def _error(
    status: int,
    code: str,
    message: str,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        {"error": {"code": code, "message": message, "details": details or {}}},
        status_code=status,
        headers=headers,
    )


def _problem(error: dict[str, Any]) -> str:
    pattern = (error.get("ctx") or {}).get("pattern")
    if error.get("type") == "string_pattern_mismatch" and pattern in PATTERN_RULES:
        return f"must be {PATTERN_RULES[pattern]}"
    return str(error.get("msg", "invalid"))


def _describe_validation(errors: list[dict[str, Any]]) -> tuple[int, str, list[dict[str, Any]]]:
    """Turn pydantic's errors into one sentence and a safe list (no echo of large inputs)."""
    cleaned = [
        {
            "location": ".".join(str(part) for part in error.get("loc", ())),
            "problem": _problem(error),
            "type": error.get("type", ""),
        }
        for error in errors
    ]
    if any(error["type"] == "json_invalid" for error in cleaned):
        return 400, "the request body is not valid JSON", cleaned
    first = cleaned[0] if cleaned else {"location": "request", "problem": "invalid"}
    more = f" (and {len(cleaned) - 1} more problem(s))" if len(cleaned) > 1 else ""
    return 422, f"{first['location']}: {first['problem']}{more}", cleaned


def create_app(settings: Settings, db: Database | None = None) -> FastAPI:
    """The golive API for ``settings``; ``db`` is opened from the settings when not given."""
    database = db if db is not None else Database(settings.database_url)
    tuf = TufRepository.initialise(settings.tuf_dir, settings.keys_dir)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # The library and its TUF repository agree at start, then stay fresh.
        await asyncio.to_thread(publish_library, database, tuf)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(keep_fresh(tuf, settings.tuf_refresh_seconds, stop))]
        # The engine and the SSH executor run inside the server by default (DESIGN.md,
        # "Embedded"); with GOLIVE_ENGINE=off `golive worker` processes do that work.
        if settings.engine:
            # Agentless targets: the server itself carries out their assignments over SSH.
            ssh = SshDispatcher(
                database,
                app.state.blobs,
                settings.keys_dir,
                settings.work_dir,
                lease_seconds=settings.ssh_lease_seconds,
            )
            tasks.append(
                asyncio.create_task(keep_dispatching(ssh, settings.ssh_poll_seconds, stop))
            )
            tasks.append(
                asyncio.create_task(keep_deploying(database, settings.deploy_tick_seconds, stop))
            )
            tasks.append(start_delivering(settings, database, stop))  # webhooks
        else:
            log.info("the deployment engine is off here: `golive worker` processes run it")
        try:
            yield
        finally:
            stop.set()
            for task in tasks:
                await task

    app = FastAPI(
        lifespan=lifespan,
        title="golive",
        version=__version__,
        description="Deployment management: definitive media library, change control, "
        "deployments to every target, and a tamper-evident audit trail.",
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    app.state.settings = settings
    app.state.db = database
    app.state.blobs = open_blob_store(settings)
    app.state.tuf = tuf
    metrics = Metrics()
    app.state.metrics = metrics
    watch_agents(app, metrics.registry)

    @app.exception_handler(GoliveError)
    async def _golive_error(_request: Request, exc: GoliveError) -> JSONResponse:
        return _golive_error_response(exc)

    @app.exception_handler(RequestValidationError)
    async def _invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        status, message, problems = _describe_validation(list(exc.errors()))
        code = "malformed_json" if status == 400 else "invalid_input"
        return _error(status, code, message, {"problems": problems})

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request refused"
        if exc.status_code == 404 and message == "Not Found":
            message = "no such endpoint; the API is described at /docs"
        return _error(exc.status_code, code, message, headers=dict(exc.headers or {}))

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal", "golive hit an unexpected error; the server log has details")

    @app.get("/api/v1/health", tags=["operations"], summary="Liveness and schema state (no token)")
    def health() -> dict[str, Any]:
        db_: Database = app.state.db
        status = db_.schema_status()
        return {
            "status": "ok" if status.state == "current" else "degraded",
            "version": __version__,
            "schema": status.as_dict(),
        }

    @app.get(
        "/metrics",
        tags=["operations"],
        summary="Prometheus metrics",
        dependencies=[Depends(require(Permission.METRICS_READ))],
    )
    def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(agents_router)
    app.include_router(auth_router)
    app.include_router(inventory_router)
    app.include_router(audit_router)
    app.include_router(media_router)
    app.include_router(tuf_router)
    app.include_router(hardware_router)
    app.include_router(work_orders_router)
    app.include_router(ssh_router)
    app.include_router(deployments_router)
    app.include_router(changes_router)
    app.include_router(integrations_router)
    mount_console(app)  # the web console at /console: HTML pages, outside the OpenAPI document

    # Innermost first: the agents' fast path runs inside the limits, metrics and logs.
    app.add_middleware(AgentFastPath, render_error=_golive_error_response)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes, streamed=UPLOADS)
    app.add_middleware(ObserveMiddleware, metrics=metrics)
    return app
