"""``golive worker``: the deployment engine (and the SSH executor) without the HTTP API.

At scale (DESIGN.md, "Embedded default and scale-out") servers run with
``GOLIVE_ENGINE=off`` and any number of workers share the records in PostgreSQL. A
worker claims one deployment at a time (``SELECT … FOR UPDATE SKIP LOCKED``), and SSH
assignments the same way, so two workers never act on the same deployment or
assignment at once. SIGTERM or SIGINT lets the step under way commit, then stops.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from typing import Annotated

import typer
from sqlalchemy import make_url

from golive import logs
from golive.auth.roles import Role
from golive.auth.service import Actor
from golive.cli.local import HomeOption, LogFormatOption, _open
from golive.cli.output import errors
from golive.db import Database
from golive.deployments.engine import keep_deploying
from golive.deployments.executors.ssh_dispatch import SshDispatcher, keep_dispatching
from golive.integrations.webhooks import start_delivering
from golive.media.storage import open_blob_store
from golive.settings import Settings

log = logging.getLogger("golive.worker")
# The audit trail's actor column holds at most 128 characters.
_ACTOR_LENGTH = 128


def worker_actor(name: str) -> Actor:
    """The engine's actor for the worker called ``name``: the records say which one acted."""
    return Actor(f"engine:{name}"[:_ACTOR_LENGTH], frozenset({Role.AGENT}))


async def run_worker(
    settings: Settings, database: Database, actor: Actor, interval: float, *, ssh: bool
) -> None:
    """Tick deployments (and run SSH assignments) until SIGTERM or SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    wanted = (signal.SIGTERM, signal.SIGINT)

    def stopping(signum: signal.Signals) -> None:
        log.info("%s: finishing the step under way, then stopping", signum.name)
        stop.set()
        for each in wanted:  # a second signal stops at once, the default way
            loop.remove_signal_handler(each)

    for signum in wanted:
        loop.add_signal_handler(signum, stopping, signum)
    tasks = [asyncio.create_task(keep_deploying(database, interval, stop, actor=actor))]
    tasks.append(start_delivering(settings, database, stop))  # webhooks (integrations)
    if ssh:
        dispatcher = SshDispatcher(
            database,
            open_blob_store(settings),
            settings.keys_dir,
            settings.work_dir,
            lease_seconds=settings.ssh_lease_seconds,
        )
        tasks.append(
            asyncio.create_task(keep_dispatching(dispatcher, settings.ssh_poll_seconds, stop))
        )
    where = make_url(settings.database_url).render_as_string(hide_password=True)
    log.info(
        "worker %s started: deployments every %.2g s, SSH executor %s, records at %s",
        actor.name,
        interval,
        "on" if ssh else "off",
        where,
    )
    try:
        await asyncio.gather(*tasks)
    finally:
        stop.set()
        for signum in wanted:
            loop.remove_signal_handler(signum)
    log.info("worker %s stopped", actor.name)


def worker(
    home: HomeOption = None,
    interval: Annotated[
        float,
        typer.Option(min=0.01, help="Seconds between engine ticks when nothing changed."),
    ] = 1.0,
    ssh: Annotated[
        bool,
        typer.Option(
            "--ssh/--no-ssh",
            help="Also carry out SSH targets' assignments (needs the server's keys and blobs).",
        ),
    ] = True,
    name: Annotated[
        str | None,
        typer.Option(
            help="How the records name this worker (default HOST-PID).", show_default=False
        ),
    ] = None,
    log_format: LogFormatOption = "human",
) -> None:
    """Run the deployment engine without serving HTTP (several may share PostgreSQL)."""
    settings = Settings.from_env(home=home, log_format=log_format)
    logs.configure(settings.log_format)
    database = _open(settings)
    try:
        database.require_current_schema()
        actor = worker_actor(name or f"{socket.gethostname()}-{os.getpid()}")
        errors.print(f"golive worker {actor.name}; Ctrl-C or SIGTERM stops it.")
        asyncio.run(run_worker(settings, database, actor, interval, ssh=ssh))
    finally:
        database.dispose()
