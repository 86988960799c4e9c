"""The web console: server-rendered pages (Jinja2, with htmx for live parts) over the same
rules as the API, mounted by the same server at ``/console`` (``/`` leads there)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from golive.web import changes, deployments, estate, library, records, signin
from golive.web.console import PREFIX, STATIC, STATIC_DIR, fallback
from golive.web.sessions import Signer


def mount(app: FastAPI) -> None:
    """Add the console's pages and static files to ``app`` (none of them in the API's
    OpenAPI document: they are HTML, not API)."""
    app.state.console_signer = Signer.for_home(app.state.settings.home)

    @app.get("/", include_in_schema=False)
    def _root() -> RedirectResponse:
        return RedirectResponse(f"{PREFIX}/")

    for module in (signin, estate, deployments, library, changes, records):
        app.include_router(module.router)
    app.mount(STATIC, StaticFiles(directory=STATIC_DIR), name="console-static")
    app.include_router(fallback)  # after the static files: they are matched first
