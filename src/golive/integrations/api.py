"""Integration endpoints: the ITSM bridge (/api/v1/itsm/changes, signed by the tool, no
token), ITSM connections, webhooks and their delivery log."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.db import Database
from golive.errors import AuthenticationError, InvalidInputError
from golive.integrations import bridge, service, signing
from golive.integrations.itsm import read_record
from golive.integrations.models import ItsmConnection
from golive.integrations.schemas import (
    ConnectionCreate,
    ConnectionUpdate,
    WebhookCreate,
    WebhookRotate,
    WebhookUpdate,
)
from golive.integrations.sealing import SecretBox

log = logging.getLogger("golive.itsm")
router = APIRouter(prefix="/api/v1", tags=["integrations"])

Reader = Annotated[Actor, Depends(require(Permission.INTEGRATIONS_READ))]
Manager = Annotated[Actor, Depends(require(Permission.INTEGRATIONS_MANAGE))]
Obj = dict[str, Any]


def secret_box(request: Request) -> SecretBox:
    """The box sealing integration secrets, opened once per application."""
    box: SecretBox | None = getattr(request.app.state, "secret_box", None)
    if box is None:
        box = SecretBox.from_keys_dir(request.app.state.settings.keys_dir)
        request.app.state.secret_box = box
    return box


Box = Annotated[SecretBox, Depends(secret_box)]

# A ServiceNow-shaped record, shown in the API docs (docs/itsm.md has the whole mapping).
EXAMPLE = {
    "number": "CHG0030001",
    "short_description": "Shop 2.0 to production",
    "description": "New checkout; see the release notes.",
    "type": "normal",
    "risk": "3 - Moderate",
    "impact": "2 - Medium",
    "state": "assess",
    "start_date": "2026-12-05 22:00:00",
    "end_date": "2026-12-06 02:00:00",
    "u_environment": "production",
    "cmdb_ci": ["web-01", "web-02"],
    "u_components": "shop",
    "backout_plan": "Roll back to 1.0 with golive deploy shop@1.0.",
}
_BODY_DOC: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"type": "object", "additionalProperties": True},
                "example": EXAMPLE,
            }
        },
    },
    "parameters": [
        {"name": name, "in": "header", "required": True, "schema": {"type": "string"}}
        for name in (
            signing.CONNECTION_HEADER,
            signing.TIMESTAMP_HEADER,
            signing.SIGNATURE_HEADER,
        )
    ],
}


# --- the bridge --------------------------------------------------------------------------


@router.post(
    "/itsm/changes",
    summary="Create or update a change request from an ITSM tool (HMAC-signed, no token)",
    openapi_extra=_BODY_DOC,
    responses={201: {"description": "Raised a new change"}},
)
async def itsm_change(request: Request, response: Response, db: DB, box: Box) -> Obj:
    body = await request.body()
    created, answer = await run_in_threadpool(_receive, db, box, request.headers, body)
    if created:
        response.status_code = 201
    return answer


def _receive(
    db: Database, box: SecretBox, headers: Mapping[str, str], body: bytes
) -> tuple[bool, Obj]:
    name = headers.get(signing.CONNECTION_HEADER, "")
    with db.reading() as session:
        connection = _active_connection(session, name)
        secret = box.open(connection.secret_sealed)
    try:
        signing.check_signature(secret, headers, body)
    except AuthenticationError as refused:
        log.warning("ITSM connection %s: request refused: %s", name, refused.message)
        raise
    # Only a signed body is parsed.
    try:
        record = json.loads(body)
    except ValueError:
        raise InvalidInputError("the request body is not valid JSON") from None
    wanted = read_record(record)
    with db.writing() as session:
        connection = _active_connection(session, name)
        result = bridge.apply(session, connection, wanted)
        return result.created, result.as_dict(wanted.ignored)


def _active_connection(session: Session, name: str) -> ItsmConnection:
    if not name:
        raise AuthenticationError(
            f"name the ITSM connection in {signing.CONNECTION_HEADER} and sign the request "
            "with its secret (docs/itsm.md)"
        )
    found = session.scalars(
        select(ItsmConnection).where(
            ItsmConnection.name == name[:63], ItsmConnection.active.is_(True)
        )
    ).first()
    if found is None:
        raise AuthenticationError(f"{name[:63]!r} is not an active ITSM connection")
    return found


# --- ITSM connections --------------------------------------------------------------------


@router.get("/itsm/connections", summary="ITSM connections (never their secrets)")
def list_connections(db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        items = [c.as_dict() for c in service.list_connections(session)]
    return {"items": items, "next_offset": None}


@router.post(
    "/itsm/connections",
    status_code=201,
    summary="Let an ITSM tool raise changes; its secret is in this answer only",
)
def create_connection(spec: ConnectionCreate, db: DB, actor: Manager, box: Box) -> Obj:
    with db.writing() as session:
        connection, secret = service.create_connection(session, actor, box, spec)
        return {**connection.as_dict(), "secret": secret}


@router.get("/itsm/connections/{name}", summary="Show an ITSM connection")
def show_connection(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_connection(session, name).as_dict()


@router.patch("/itsm/connections/{name}", summary="Describe, pause or resume a connection")
def update_connection(name: str, spec: ConnectionUpdate, db: DB, actor: Manager) -> Obj:
    with db.writing() as session:
        return service.update_connection(session, actor, name, spec).as_dict()


@router.post(
    "/itsm/connections/{name}/rotate",
    summary="Replace a connection's secret (the old one stops at once); shown once",
)
def rotate_connection(name: str, db: DB, actor: Manager, box: Box) -> Obj:
    with db.writing() as session:
        connection, secret = service.rotate_connection_secret(session, actor, box, name)
        return {**connection.as_dict(), "secret": secret}


@router.delete("/itsm/connections/{name}", status_code=204, summary="Remove a connection")
def delete_connection(name: str, db: DB, actor: Manager) -> None:
    with db.writing() as session:
        service.delete_connection(session, actor, name)


# --- webhooks ------------------------------------------------------------------------------


@router.get("/webhooks", summary="Webhook subscriptions (never their secrets)")
def list_webhooks(db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        items = [w.as_dict() for w in service.list_webhooks(session)]
    return {"items": items, "next_offset": None}


@router.post(
    "/webhooks",
    status_code=201,
    summary="Send change and deployment events to a URL; the signing secret is shown once",
)
def create_webhook(spec: WebhookCreate, db: DB, actor: Manager, box: Box) -> Obj:
    with db.writing() as session:
        webhook, secret = service.create_webhook(session, actor, box, spec)
        return {**webhook.as_dict(), "secret": secret}


@router.get("/webhooks/{name}", summary="Show a webhook subscription")
def show_webhook(name: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_webhook(session, name).as_dict()


@router.patch("/webhooks/{name}", summary="Change a webhook's URL or events, pause or resume it")
def update_webhook(name: str, spec: WebhookUpdate, db: DB, actor: Manager) -> Obj:
    with db.writing() as session:
        return service.update_webhook(session, actor, name, spec).as_dict()


@router.post(
    "/webhooks/{name}/rotate",
    summary="Replace a webhook's signing secret (the old one may sign too for a while); shown once",
)
def rotate_webhook(
    name: str, db: DB, actor: Manager, box: Box, spec: WebhookRotate | None = None
) -> Obj:
    with db.writing() as session:
        webhook, secret = service.rotate_webhook_secret(
            session, actor, box, name, spec or WebhookRotate()
        )
        return {**webhook.as_dict(), "secret": secret}


@router.delete("/webhooks/{name}", status_code=204, summary="Remove a webhook and its log")
def delete_webhook(name: str, db: DB, actor: Manager) -> None:
    with db.writing() as session:
        service.delete_webhook(session, actor, name)


@router.get("/webhook-deliveries", summary="The delivery log, newest first")
def list_deliveries(
    db: DB,
    _actor: Reader,
    webhook: str | None = None,
    state: Annotated[str | None, Query(pattern="^(pending|delivered|failed)$")] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_deliveries(
            session, webhook=webhook, state=state, limit=limit, offset=offset
        )
        return page([d.as_dict() for d in found], limit, offset)


@router.get("/webhook-deliveries/{delivery_id}", summary="One delivery, with its payload")
def show_delivery(delivery_id: int, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_delivery(session, delivery_id).as_dict(with_payload=True)


@router.post(
    "/webhook-deliveries/{delivery_id}/retry", summary="Send a failed delivery once more, now"
)
def retry_delivery(delivery_id: int, db: DB, actor: Manager) -> Obj:
    with db.writing() as session:
        return service.retry_delivery(session, actor, delivery_id).as_dict()
