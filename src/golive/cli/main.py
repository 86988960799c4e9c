"""The ``golive`` entry point: assembles every concept's commands and maps errors to exit codes.

Exit codes: 0 success, 1 the server (or the local database) refused, 2 usage errors.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from typer.exceptions import TyperException

from golive import __version__
from golive.agents.cli import assignments
from golive.audit.cli import audit
from golive.auth.cli import login, principals, tokens, whoami
from golive.changes.cli import changes, metrics, schedule, windows
from golive.cli import local, worker
from golive.cli.output import errors
from golive.deployments.cli import deploy, deployments
from golive.deployments.executors import ssh_endpoints  # registers `golive targets ssh`
from golive.errors import GoliveError
from golive.hardware.cli import hardware
from golive.integrations.cli import itsm, webhooks
from golive.inventory.cli import components, environments, targets
from golive.media.cli import media
from golive.workorders.cli import work_orders

_ = ssh_endpoints
app = typer.Typer(
    name="golive",
    help="golive: deployment management from the definitive media library to every target.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"golive {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """golive: deployment management from the definitive media library to every target."""


app.command("init")(local.init)
app.command("server")(local.server)
app.command("up")(local.up)
app.command("worker")(worker.worker)
app.add_typer(local.db_commands, name="db")
app.command("login")(login)
app.command("whoami")(whoami)
app.add_typer(environments, name="environments")
app.add_typer(targets, name="targets")
app.add_typer(components, name="components")
app.add_typer(principals, name="principals")
app.add_typer(tokens, name="tokens")
app.add_typer(audit, name="audit")
app.add_typer(media, name="media")
app.add_typer(hardware, name="hardware")
app.add_typer(assignments, name="assignments")
app.add_typer(work_orders, name="work-orders")
app.command("deploy")(deploy)
app.add_typer(deployments, name="deployments")
app.add_typer(changes, name="changes")
app.add_typer(itsm, name="itsm")
app.add_typer(webhooks, name="webhooks")
app.add_typer(windows, name="windows")
app.command("schedule")(schedule)
app.command("metrics")(metrics)


def main(argv: list[str] | None = None) -> int:
    """Run one command; return its exit code instead of exiting."""
    try:
        # Without standalone mode, click returns the code of a typer.Exit instead of raising.
        result = app(args=argv, prog_name="golive", standalone_mode=False)
    except typer.Exit as exc:
        return int(exc.exit_code)
    except typer.Abort:
        errors.print("Aborted.")
        return 1
    except TyperException as exc:  # usage errors: bad option, missing argument, bad value
        show = getattr(exc, "show", None)
        if callable(show):
            show()
        else:
            errors.print(f"error: {exc}")
        return int(getattr(exc, "exit_code", 2))
    except GoliveError as exc:
        errors.print(f"error: {exc.message}", highlight=False)
        return 1
    return result if isinstance(result, int) else 0


def run() -> None:
    sys.exit(main())
