"""FastAPI dependencies shared by every router: the database and the acting principal."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from golive.auth.roles import Permission
from golive.auth.service import Actor, authenticate
from golive.db import Database
from golive.errors import AuthenticationError

bearer = HTTPBearer(auto_error=False, description="An API token from `golive tokens create`.")


def database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


DB = Annotated[Database, Depends(database)]


def _authenticate(db: Database, secret: str) -> Actor:
    with db.engine.connect() as connection:  # one read; no ORM session needed
        return authenticate(connection, secret)


async def current_actor(
    request: Request,
    db: DB,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Actor:
    """The principal behind the request's bearer token (401 when there is none)."""
    if credentials is None:
        raise AuthenticationError(
            "this endpoint needs an API token: send 'Authorization: Bearer <token>'"
        )
    # A local SQLite read takes well under a millisecond: cheaper in the event loop
    # than a hop to a worker thread. A database server round trip goes to a thread.
    if db.is_sqlite:
        actor = _authenticate(db, credentials.credentials)
    else:
        actor = await run_in_threadpool(_authenticate, db, credentials.credentials)
    request.state.actor = actor.name
    return actor


async def feed_actor(
    request: Request,
    db: DB,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[
        str | None,
        Query(description="For calendar clients that cannot send a header: the API token."),
    ] = None,
) -> Actor:
    """Like ``current_actor``, but also takes the token as a query parameter, for feeds
    (iCalendar) that clients subscribe to by URL."""
    if credentials is None and token is not None:
        credentials = HTTPAuthorizationCredentials(scheme="Bearer", credentials=token)
    return await current_actor(request, db, credentials)


def require(permission: Permission) -> Callable[[Actor], Awaitable[Actor]]:
    """A dependency that admits only principals holding ``permission`` (403 otherwise)."""

    async def _check(actor: Annotated[Actor, Depends(current_actor)]) -> Actor:
        actor.require(permission)
        return actor

    _check.__name__ = f"require_{permission.name.lower()}"
    return _check


Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many items.")]
Offset = Annotated[int, Query(ge=0, description="Skip this many items.")]


def page(items: list[dict[str, object]], limit: int, offset: int) -> dict[str, object]:
    return {"items": items, "next_offset": offset + limit if len(items) == limit else None}
