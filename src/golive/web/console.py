"""What every console page shares: who is signed in, the CSRF check on every form post,
the templates, and errors shown as pages.

The console adds no rules of its own. A page's handler checks the signed-in actor's
permission with the same ``Actor.require`` the API's dependencies use, then calls the same
service function, which writes the same audit event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from pydantic import BaseModel, ValidationError

from golive import __version__
from golive.auth.roles import Permission, may
from golive.auth.service import Actor, authenticate_token_id
from golive.db import Database
from golive.errors import AuthenticationError, GoliveError, InvalidInputError, NotFoundError
from golive.web.sessions import COOKIE, CSRF_FIELD, CSRF_HEADER, ConsoleSession, Signer

log = logging.getLogger("golive.web")
M = TypeVar("M", bound=BaseModel)
PREFIX = "/console"
SIGN_IN = f"{PREFIX}/sign-in"
STATIC = f"{PREFIX}/static"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"

# The navigation: each page with the permission that lets a principal see it.
NAVIGATION: tuple[tuple[str, str, Permission], ...] = (
    ("/console/", "Dashboard", Permission.DEPLOYMENTS_READ),
    ("/console/deployments", "Deployments", Permission.DEPLOYMENTS_READ),
    ("/console/media", "Media library", Permission.MEDIA_READ),
    ("/console/hardware", "Hardware", Permission.HARDWARE_READ),
    ("/console/changes", "Changes", Permission.CHANGES_READ),
    ("/console/schedule", "Schedule", Permission.CHANGES_READ),
    ("/console/targets", "Targets", Permission.INVENTORY_READ),
    ("/console/audit", "Audit", Permission.AUDIT_READ),
    ("/console/figures", "Figures", Permission.METRICS_READ),
)


class SignInRequired(Exception):
    """No valid session: the browser is sent to the sign-in page."""

    def __init__(self, reason: str = "") -> None:
        super().__init__(reason)
        self.reason = reason


class CsrfRefused(GoliveError):
    code = "csrf"
    http_status = 403


@dataclass(frozen=True)
class Viewer:
    """The signed-in principal, with the session and the CSRF token its forms carry."""

    actor: Actor
    session: ConsoleSession
    csrf: str

    def may(self, permission: Permission | str) -> bool:
        return may(self.actor.roles, Permission(permission))

    def require(self, permission: Permission) -> None:
        self.actor.require(permission)


def signer_of(request: Request) -> Signer:
    signer: Signer = request.app.state.console_signer
    return signer


def database_of(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


def current_viewer(request: Request) -> Viewer:
    """The signed-in viewer (a FastAPI dependency); SignInRequired when there is none."""
    signer = signer_of(request)
    session = signer.read(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired()
    with database_of(request).engine.connect() as connection:
        try:
            actor = authenticate_token_id(connection, session.token_id)
        except AuthenticationError as exc:
            raise SignInRequired(exc.message) from None
    request.state.actor = actor.name  # the request log names who acted, as for the API
    return Viewer(actor, session, signer.csrf_for(session))


# --- templates --------------------------------------------------------------------------


def _when(value: object) -> str:
    """An ISO moment or datetime as ``2030-01-01 09:30 UTC`` (empty for none)."""
    if value is None or value == "":
        return ""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def _size(value: object) -> str:
    number = float(str(value))
    for unit in ("B", "KiB", "MiB", "GiB"):
        if number < 1024 or unit == "GiB":
            return f"{number:.0f} {unit}" if unit == "B" else f"{number:.1f} {unit}"
        number /= 1024
    return f"{number:.1f} GiB"


def _duration(value: object) -> str:
    if value is None:
        return "\u2013"
    seconds = int(float(str(value)))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {seconds}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes}m"
    return f"{hours // 24}d {hours % 24}h"


def _percent(value: object) -> str:
    return "\u2013" if value is None else f"{float(str(value)) * 100:.1f} %"


def _label(value: object) -> str:
    return str(value).replace("_", " ")


TEMPLATES = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
TEMPLATES.filters.update(when=_when, size=_size, duration=_duration, percent=_percent, label=_label)


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    viewer: Viewer | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page (or an htmx fragment) rendered with what every template may use."""
    path = request.url.path
    nav = [
        {"href": href, "label": label, "current": _is_current(href, path)}
        for href, label, permission in NAVIGATION
        if viewer is not None and viewer.may(permission)
    ]
    page = TEMPLATES.get_template(template).render(
        {
            "viewer": viewer,
            "nav": nav,
            "path": path,
            "static": STATIC,
            "csrf_field": CSRF_FIELD,
            "version": __version__,
            "P": Permission,
            **(context or {}),
        }
    )
    headers = {
        "Cache-Control": "no-store",
        # Only this server's own script (htmx) runs; no site may frame the console's
        # buttons (clickjacking); inline styles are the progress bars' widths.
        "Content-Security-Policy": "default-src 'self'; script-src 'self'; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'; "
        "form-action 'self'; base-uri 'none'",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "same-origin",
        "X-Content-Type-Options": "nosniff",
    }
    return HTMLResponse(page, status_code=status_code, headers=headers)


def _is_current(href: str, path: str) -> bool:
    if href == f"{PREFIX}/":
        return path in (PREFIX, f"{PREFIX}/")
    return path == href or path.startswith(href + "/")


def redirect(url: str) -> RedirectResponse:
    """After a form post: see the result with a GET (303)."""
    return RedirectResponse(url, status_code=303)


# --- the route class: sign-in, CSRF and errors for every console route ------------------


async def _check_csrf(request: Request) -> None:
    """Refuse a form post whose CSRF token is missing or not this session's (403)."""
    if request.url.path == SIGN_IN:
        return  # the sign-in form is bound to its own nonce (signin.py checks it)
    signer = signer_of(request)
    session = signer.read(request.cookies.get(COOKIE))
    if session is None:
        raise SignInRequired()
    given = request.headers.get(CSRF_HEADER)
    if given is None:
        form = await request.form()  # cached: the handler reads the same parsed form
        field = form.get(CSRF_FIELD)
        given = field if isinstance(field, str) else None
    if not signer.csrf_matches(session, given):
        raise CsrfRefused(
            "the form did not carry this session's CSRF token; reload the page and try again"
        )


def _sign_in_redirect(request: Request, reason: str) -> Response:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    where = f"{SIGN_IN}?next={quote(target, safe='')}"
    if reason:
        where += f"&reason={quote(reason, safe='')}"
    if request.headers.get("HX-Request"):
        # htmx follows a redirect inside its request; this makes the whole page go.
        return Response(status_code=401, headers={"HX-Redirect": where})
    return redirect(where) if request.method not in _SAFE_METHODS else RedirectResponse(where)


def error_page(request: Request, exc: GoliveError) -> HTMLResponse:
    viewer: Viewer | None = None
    try:
        viewer = current_viewer(request)
    except SignInRequired:
        viewer = None
    return render(
        request,
        "error.html",
        {"error": exc, "status": exc.http_status},
        viewer=viewer,
        status_code=exc.http_status,
    )


class ConsoleRoute(APIRoute):
    """Every console route: form posts must carry the session's CSRF token, a missing
    session sends the browser to sign in, and golive's errors become pages with the
    same status codes and sentences the API gives."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        original = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                if request.method not in _SAFE_METHODS:
                    await _check_csrf(request)
                return await original(request)
            except SignInRequired as exc:
                return _sign_in_redirect(request, exc.reason)
            except GoliveError as exc:
                return await run_in_threadpool(error_page, request, exc)
            except RequestValidationError as exc:
                problems = "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ())[1:])}: {e.get('msg', 'invalid')}"
                    for e in exc.errors()
                )
                invalid = InvalidInputError(f"the form is incomplete: {problems}")
                return await run_in_threadpool(error_page, request, invalid)

        return handler


def validated(model: type[M], data: Mapping[str, Any]) -> M:
    """``data`` checked by the API's own request model, so a form is held to the same
    rules as a JSON body; a problem becomes InvalidInputError with one sentence."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        # Said as a person reads the form: "planned windows #1", not "planned_windows.0".
        where = " ".join(
            f"#{part + 1}" if isinstance(part, int) else str(part).replace("_", " ")
            for part in first.get("loc", ())
        )
        message = str(first.get("msg", "invalid")).removeprefix("Value error, ")
        more = f" (and {exc.error_count() - 1} more problem(s))" if exc.error_count() > 1 else ""
        raise InvalidInputError(f"{where or 'form'}: {message}{more}") from None


async def form_fields(
    request: Request, names: Sequence[str], lists: Sequence[str] = ()
) -> dict[str, Any]:
    """A posted form's fields as text (missing ones empty); ``lists`` as lists of text
    (checkboxes sharing a name)."""
    raw = await request.form()
    form: dict[str, Any] = {name: str(raw.get(name, "")) for name in names}
    for name in lists:
        form[name] = [str(value) for value in raw.getlist(name)]
    return form


def pairs(text: str, what: str) -> dict[str, str]:
    """``role=web, site=lon`` as a mapping (labels typed in a form field)."""
    found: dict[str, str] = {}
    for part in text.split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise InvalidInputError(f"{what}: write each as name=value; got {part.strip()!r}")
        found[key.strip()] = value.strip()
    return found


# Last of the console's routes: any other path under /console is a page, not API JSON.
fallback = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


@fallback.get("/{path:path}")
def no_such_page(path: str) -> Response:
    raise NotFoundError(f"the console has no page /console/{path}")
