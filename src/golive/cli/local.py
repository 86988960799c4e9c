"""Commands that act on the local data folder and database: init, server, up, db."""

from __future__ import annotations

import sys
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer
from sqlalchemy import make_url

from golive import logs
from golive.auth.service import bootstrap_admin
from golive.cli.output import console, errors
from golive.db import Database, is_sqlite, upgrade
from golive.deployments.executors.ssh_endpoints import ensure_client_key
from golive.errors import GoliveError, SchemaError
from golive.files import write_private
from golive.media.tuf_repo import TufRepository
from golive.settings import Settings

db_commands = typer.Typer(help="The records' schema: status and upgrades.", no_args_is_help=True)

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home", help="Data folder (default $GOLIVE_HOME, else ./.golive).", show_default=False
    ),
]
HostOption = Annotated[str, typer.Option(help="Address to listen on.")]
PortOption = Annotated[int, typer.Option(min=0, max=65535, help="Port to listen on.")]
LogFormatOption = Annotated[str, typer.Option("--log-format", help="human or json.")]


def _open(settings: Settings) -> Database:
    if is_sqlite(settings.database_url):
        database = make_url(settings.database_url).database
        if database and database != ":memory:" and not Path(database).exists():
            raise SchemaError(
                f"There is no golive database at {database}. Run `golive init"
                + (f" --home {settings.home}" if settings.home else "")
                + "` first."
            )
    return Database(settings.database_url)


def initialise(settings: Settings) -> str | None:
    """Create the data folder, the schema and the first admin; safe to repeat.

    Returns:
        The first admin's token secret when one was created now, else None.
    """
    settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
    database = Database(settings.database_url)
    try:
        status = database.schema_status()
        if status.state == "missing":
            upgrade(database.engine)
        elif status.state != "current":
            database.require_current_schema()
        with database.writing() as session:
            secret = bootstrap_admin(session)
        TufRepository.initialise(settings.tuf_dir, settings.keys_dir)
        ensure_client_key(settings.keys_dir)
        if secret is not None:
            write_private(settings.admin_token_path, (secret + "\n").encode())
        return secret
    finally:
        database.dispose()


def init(home: HomeOption = None) -> None:
    """Create the data folder, the database and a first admin token (safe to run again)."""
    settings = Settings.from_env(home=home)
    secret = initialise(settings)
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    if secret is None:
        console.print(
            f"golive is already initialised in {settings.home} ({where}); nothing changed."
        )
        return
    console.print(f"Initialised golive in {settings.home} ({where}).")
    console.print(
        f"First admin token (saved to {settings.admin_token_path}, mode 0600; shown once):"
    )
    console.print(secret, highlight=False, soft_wrap=True)


def serve(settings: Settings, host: str, port: int) -> None:
    import uvicorn

    from golive.agents.api import release_waiting
    from golive.api.app import create_app
    from golive.api.server import server_config

    logs.configure(settings.log_format)
    database = _open(settings)
    try:
        database.require_current_schema()
    except GoliveError:
        database.dispose()
        raise
    app = create_app(settings, database)
    # The event loop shares the GIL with the request threads, the agents' group writer
    # and the engine. Each SQLite call it makes gives the GIL up; with Python's default
    # 5 ms switch interval, getting it back behind a busy thread could cost that long,
    # for every agent's check-in. A shorter interval keeps the loop answering.
    sys.setswitchinterval(0.0005)
    errors.print(f"golive serving on http://{host}:{port} (API docs at /docs); Ctrl-C stops it.")
    config = server_config(
        app,
        host,
        port,
        # Longer than an agent's idle connection lasts (httpx, aiohttp: at most 15 s):
        # the client ends an idle connection, never the server under its next request.
        timeout_keep_alive=30,
        # A request still running this long after Ctrl-C is cancelled.
        timeout_graceful_shutdown=5,
        # Behind a TLS proxy golive must know the browser used https (cookies are then
        # Secure): believe X-Forwarded-* from the proxies named, and from no one else.
        proxy_headers=bool(settings.trusted_proxies),
        forwarded_allow_ips=list(settings.trusted_proxies) or None,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: FrameType | None) -> None:
            super().handle_exit(sig, frame)
            # Waiting check-ins (?wait=) are answered now, not when their wait ends:
            # the agents ask again, of this server's successor.
            release_waiting(app)

    Server(config).run()


def server(
    home: HomeOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    log_format: LogFormatOption = "human",
    engine: Annotated[
        bool | None,
        typer.Option(
            "--engine/--no-engine",
            help="Run the deployment engine and SSH executor here (default $GOLIVE_ENGINE, "
            "else on); --no-engine when `golive worker` processes do.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Serve the API (the database must be initialised and at this version's schema)."""
    serve(Settings.from_env(home=home, log_format=log_format, engine=engine), host, port)


def up(
    home: HomeOption = None,
    host: HostOption = "127.0.0.1",
    port: PortOption = 8000,
    log_format: LogFormatOption = "human",
    demo: Annotated[
        bool,
        typer.Option(
            "--demo/--no-demo",
            help="Also run the demo fleet: a dozen local golive-agents and demo-shop versions.",
        ),
    ] = True,
) -> None:
    """Run golive on its embedded default: `init` when needed, then `server`, with a demo fleet."""
    settings = Settings.from_env(home=home, log_format=log_format)
    secret = initialise(settings)
    if secret is not None:
        console.print(
            f"Initialised {settings.home}. Admin token saved to {settings.admin_token_path}."
        )
    tokens = settings.admin_token_path
    console.print(f"Use it: export GOLIVE_URL=http://{host}:{port} GOLIVE_TOKEN=$(cat {tokens})")
    if not demo:
        serve(settings, host, port)
        return
    from golive.demo import demo_fleet

    with demo_fleet(settings, host, port, announce=console.print):
        serve(settings, host, port)


@db_commands.command("status")
def db_status(home: HomeOption = None) -> None:
    """Show the schema revision of the database and of this code."""
    settings = Settings.from_env(home=home)
    database = _open(settings)
    try:
        status = database.schema_status()
    finally:
        database.dispose()
    console.print(
        f"database: {status.current or 'no schema'}; code: {status.head}; state: {status.state}"
    )


@db_commands.command("upgrade")
def db_upgrade(home: HomeOption = None) -> None:
    """Apply pending migrations (refuses a database from a newer golive)."""
    settings = Settings.from_env(home=home)
    database = _open(settings)
    try:
        status = database.schema_status()
        if status.state == "newer":
            database.require_current_schema()
        if status.state == "current":
            console.print(f"The schema is already current ({status.head}).")
            return
        upgrade(database.engine)
        console.print(f"Upgraded the schema from {status.current or 'nothing'} to {status.head}.")
    finally:
        database.dispose()
