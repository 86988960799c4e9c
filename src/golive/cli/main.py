"""The ``golive`` entry point: assembles every concept's commands and maps errors to exit codes.

Exit codes: 0 success, 1 the server (or the local database) refused, 2 usage errors.
"""

from __future__ import annotations

import copy
import importlib
import sys
from typing import Annotated, Any

import typer
import typer.main
from typer import _click
from typer.core import TyperCommand, TyperGroup
from typer.exceptions import TyperException

from golive import __version__
from golive.cli.output import errors
from golive.errors import GoliveError

# Every command, in the order `golive --help` lists them: its name, the module that
# defines it, the attribute there (a Typer is a group of commands, anything else one
# command) and the line `golive --help` shows for it (the first paragraph of its help;
# tests/cli/test_entry_point.py checks they agree). A command's module is imported only
# when that command runs or its own help is shown, so neither a client command nor
# `golive --help` pays for the server's imports.
_COMMANDS: dict[str, tuple[str, str, str]] = {
    "init": (
        "golive.cli.local",
        "init",
        "Create the data folder, the database and a first admin token (safe to run again).",
    ),
    "server": (
        "golive.cli.local",
        "server",
        "Serve the API (the database must be initialised and at this version's schema).",
    ),
    "up": (
        "golive.cli.local",
        "up",
        "Run golive on its embedded default: `init` when needed, then `server`, with a demo fleet.",
    ),
    "worker": (
        "golive.cli.worker",
        "worker",
        "Run the deployment engine without serving HTTP (several may share PostgreSQL).",
    ),
    "login": (
        "golive.auth.cli",
        "login",
        "Check a token against a server and save both for later commands.",
    ),
    "whoami": (
        "golive.auth.cli",
        "whoami",
        "Show who the current token belongs to.",
    ),
    "deploy": (
        "golive.deployments.cli",
        "deploy",
        "Deploy versions to an environment's targets.",
    ),
    "schedule": (
        "golive.changes.cli",
        "schedule",
        "Planned and running deployments, changes and windows, and what clashes.",
    ),
    "metrics": (
        "golive.changes.cli",
        "metrics",
        "Figures of the practice for a period (default: the last 30 days).",
    ),
    "db": (
        "golive.cli.local",
        "db_commands",
        "The records' schema: status and upgrades.",
    ),
    "environments": (
        "golive.inventory.cli",
        "environments",
        "Environments: where deployments go, in promotion order.",
    ),
    "targets": (
        "golive.inventory.cli",
        "targets",
        "Targets: servers, devices, sites and locations in an environment.",
    ),
    "components": (
        "golive.inventory.cli",
        "components",
        "Components: the things golive deploys.",
    ),
    "principals": (
        "golive.auth.cli",
        "principals",
        "Principals: people, services and agents, with their roles.",
    ),
    "tokens": (
        "golive.auth.cli",
        "tokens",
        "API tokens: shown once, stored only as hashes, revocable.",
    ),
    "audit": (
        "golive.audit.cli",
        "audit",
        "The tamper-evident audit trail.",
    ),
    "media": (
        "golive.media.cli",
        "media",
        "The definitive media library: write-once versions of components.",
    ),
    "hardware": (
        "golive.hardware.cli",
        "hardware",
        "The definitive hardware store: spare hardware, its build details and its state.",
    ),
    "assignments": (
        "golive.agents.cli",
        "assignments",
        "Assignments: each target's part in a deployment and its history.",
    ),
    "work-orders": (
        "golive.workorders.cli",
        "work_orders",
        "Work orders: what a person must do on a manual target.",
    ),
    "deployments": (
        "golive.deployments.cli",
        "deployments",
        "Deployments: versions moved to targets in waves.",
    ),
    "changes": (
        "golive.changes.cli",
        "changes",
        "Change control: change requests, their authorities and standard change models.",
    ),
    "itsm": (
        "golive.integrations.cli",
        "itsm",
        "The ITSM bridge: service management tools that raise and update changes.",
    ),
    "webhooks": (
        "golive.integrations.cli",
        "webhooks",
        "Webhooks: change and deployment events posted, signed, to other tools.",
    ),
    "windows": (
        "golive.changes.cli",
        "windows",
        "Allow (maintenance) and deny (blackout, freeze) windows, one-off or recurring.",
    ),
}
# Concepts add commands to another concept's group (`golive targets history` lives with
# the deployments): such a group is whole once its own module and these are imported,
# and it lists their commands module by module, in this order.
_CONTRIBUTORS: dict[str, tuple[str, ...]] = {
    "targets": (
        "golive.inventory.cli",
        "golive.agents.cli",
        "golive.deployments.executors.ssh_endpoints",
        "golive.deployments.cli",
    ),
    "components": ("golive.inventory.cli", "golive.deployments.cli"),
}
# Commands that open the records import every table first, so SQLAlchemy's mappers are
# complete whichever tables the command touches.
_LOCAL = frozenset({"init", "server", "up", "worker", "db"})


def _in_contributor_order(group: typer.Typer, modules: tuple[str, ...]) -> typer.Typer:
    """``group`` with its commands ordered by the module that added them."""
    rank = {module: index for index, module in enumerate(modules)}
    ordered = copy.copy(group)
    ordered.registered_commands = sorted(
        group.registered_commands,
        key=lambda command: rank.get(getattr(command.callback, "__module__", ""), 0),
    )
    return ordered


def _load(name: str) -> _click.Command:
    """Import command ``name`` and build it as ``app.add_typer``/``app.command`` would."""
    module, attribute, _line = _COMMANDS[name]
    if name in _LOCAL:
        importlib.import_module("golive.models")
    for contributor in _CONTRIBUTORS.get(name, ()):
        importlib.import_module(contributor)
    found: Any = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(pretty_exceptions_enable=False, add_completion=False)
    if isinstance(found, typer.Typer):
        holder.add_typer(_in_contributor_order(found, _CONTRIBUTORS.get(name, ())), name=name)
    else:
        holder.command(name)(found)
    return typer.main.get_group(holder).commands[name]


class _LazyGroup(TyperGroup):
    """The root group: lists every command, imports one only when it is needed."""

    _listing = False

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*self.commands, *(name for name in _COMMANDS if name not in self.commands)]

    def format_help(self, ctx: _click.Context, formatter: _click.HelpFormatter) -> None:
        # The list of commands needs a name and a line each: no module is imported.
        self._listing = True
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
            if self._listing:
                return TyperCommand(cmd_name, help=_COMMANDS[cmd_name][2])
            self.commands[cmd_name] = _load(cmd_name)
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: _click.Context, args: list[str]
    ) -> tuple[str | None, _click.Command | None, list[str]]:
        if args and args[0] not in _COMMANDS:
            # An unknown name: load them all, so "Did you mean ...?" weighs every command.
            for name in _COMMANDS:
                self.get_command(ctx, name)
        return super().resolve_command(ctx, args)


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


@app.callback(cls=_LazyGroup)  # the callback's settings, cls among them, make the root group
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """golive: deployment management from the definitive media library to every target."""


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
