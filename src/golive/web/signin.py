"""Signing in to the console with an API token, and signing out."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, Response

from golive.auth.service import authenticate
from golive.errors import AuthenticationError
from golive.web.console import (
    PREFIX,
    SIGN_IN,
    ConsoleRoute,
    CsrfRefused,
    SignInRequired,
    Viewer,
    current_viewer,
    database_of,
    redirect,
    render,
    signer_of,
)
from golive.web.sessions import COOKIE, SESSION_SECONDS, SIGNIN_COOKIE, SIGNIN_SECONDS

log = logging.getLogger("golive.web")
router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _safe_next(value: str | None) -> str:
    """Only a path of the console itself: never another site (an open redirect)."""
    if value and value.startswith(PREFIX) and not value.startswith("//") and "\\" not in value:
        return value
    return f"{PREFIX}/"


def _set_cookie(request: Request, response: Response, name: str, value: str, max_age: int) -> None:
    # HttpOnly: no script reads it. SameSite=Strict: no other site's page sends it.
    # Secure when the browser reached us over TLS (directly, or through a proxy named in
    # GOLIVE_TRUSTED_PROXIES): the cookie then never travels in clear.
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path=PREFIX,
    )


def _form(
    request: Request, next_path: str, error: str | None = None, status_code: int = 200
) -> HTMLResponse:
    signer = signer_of(request)
    nonce = signer.signin_nonce()
    page = render(
        request,
        "sign_in.html",
        {"next": next_path, "error": error, "signin_csrf": signer.signin_csrf(nonce)},
        status_code=status_code,
    )
    _set_cookie(request, page, SIGNIN_COOKIE, nonce, SIGNIN_SECONDS)
    return page


@router.get("/sign-in")
def sign_in_form(request: Request, next: str | None = None) -> Response:
    try:
        current_viewer(request)
    except SignInRequired:
        return _form(request, _safe_next(next))
    return redirect(_safe_next(next))


@router.post("/sign-in")
def sign_in(
    request: Request,
    token: Annotated[str, Form(max_length=200)] = "",
    csrf_token: Annotated[str, Form(max_length=200)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    signer = signer_of(request)
    if not signer.signin_matches(request.cookies.get(SIGNIN_COOKIE), csrf_token):
        raise CsrfRefused("the sign-in form has expired or did not come from this console")
    try:
        with database_of(request).engine.connect() as connection:
            actor = authenticate(connection, token.strip())
    except AuthenticationError as exc:
        return _form(request, _safe_next(next), exc.message, status_code=401)
    if actor.token_id is None:  # every token-authenticated actor has one
        return _form(request, _safe_next(next), "this token cannot open a session", 401)
    _session, value = signer.open(actor.token_id)
    log.info("%s signed in to the console (token %s)", actor.name, actor.token_id)
    answer = redirect(_safe_next(next))
    _set_cookie(request, answer, COOKIE, value, SESSION_SECONDS)
    answer.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return answer


@router.post("/sign-out")
def sign_out(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Response:
    log.info("%s signed out of the console", viewer.actor.name)
    answer = redirect(SIGN_IN)
    answer.delete_cookie(COOKIE, path=PREFIX)
    return answer
