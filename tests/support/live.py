"""A real golive HTTP server on an ephemeral loopback port, in a thread of the test process."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from golive.api.app import create_app
from golive.api.server import server_config
from golive.auth.roles import Role
from golive.auth.service import SYSTEM, create_principal, issue_token
from golive.db import Database
from golive.settings import Settings

# httpx builds a new SSL context for every Client it makes, reading the whole CA bundle
# (30 ms or more); the tests make thousands of clients. One context, made the way httpx
# makes its default, serves them all (the test servers speak plain HTTP anyway).
SSL_CONTEXT = httpx.create_ssl_context()


@dataclass
class LiveServer:
    url: str
    app: FastAPI
    db: Database
    tokens: dict[str, str] = field(default_factory=dict)

    @property
    def settings_home(self) -> Path:
        """The server's data folder (blobs, TUF metadata, keys)."""
        home: Path = self.app.state.settings.home
        return home

    def client(self, role: str | None = "admin", token: str | None = None) -> httpx.Client:
        """An HTTP client holding the token of ``role``'s principal (or none)."""
        secret = token if token is not None else (self.tokens[role] if role else None)
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=30, verify=SSL_CONTEXT)


def principals_for_every_role(db: Database) -> dict[str, str]:
    """One principal per role, named after it, each with a token."""
    secrets: dict[str, str] = {}
    with db.writing() as session:
        for role in Role:
            name = role.value.replace("_", "-")
            create_principal(session, SYSTEM, name=name, roles=[role.value])
            _, secrets[role.value] = issue_token(session, SYSTEM, principal_name=name)
    return secrets


@contextmanager
def running(config: uvicorn.Config) -> Iterator[str]:
    """Run a uvicorn server in a thread until the block ends; yields its base URL."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="golive-test-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def serve(settings: Settings, db: Database) -> Iterator[LiveServer]:
    app = create_app(settings, db)
    # The test server trusts its own loopback proxy's X-Forwarded-* headers (uvicorn's
    # default), which tests of cookies over TLS use.
    config = server_config(app, "127.0.0.1", 0, lifespan="on", proxy_headers=True)
    with running(config) as url:
        yield LiveServer(url=url, app=app, db=db)
