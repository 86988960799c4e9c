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
from typer.core import TyperGroup
from typer.exceptions import TyperException

from golive import __version__
from golive.cli.output import errors
from golive.errors import GoliveError

# Every command, in the order `golive --help` lists them: its name, the module that
# defines it and the attribute there (a Typer is a group of commands, anything else one
# command). A command's module is imported only when that command runs or its help is
# shown, so a client command does not pay for the server's imports.
_COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("golive.cli.local", "init"),
    "server": ("golive.cli.local", "server"),
    "up": ("golive.cli.local", "up"),
    "worker": ("golive.cli.worker", "worker"),
    "login": ("golive.auth.cli", "login"),
    "whoami": ("golive.auth.cli", "whoami"),
    "deploy": ("golive.deployments.cli", "deploy"),
    "schedule": ("golive.changes.cli", "schedule"),
    "metrics": ("golive.changes.cli", "metrics"),
    "db": ("golive.cli.local", "db_commands"),
    "environments": ("golive.inventory.cli", "environments"),
    "targets": ("golive.inventory.cli", "targets"),
    "components": ("golive.inventory.cli", "components"),
    "principals": ("golive.auth.cli", "principals"),
    "tokens": ("golive.auth.cli", "tokens"),
    "audit": ("golive.audit.cli", "audit"),
    "media": ("golive.media.cli", "media"),
    "hardware": ("golive.hardware.cli", "hardware"),
    "assignments": ("golive.agents.cli", "assignments"),
    "work-orders": ("golive.workorders.cli", "work_orders"),
    "deployments": ("golive.deployments.cli", "deployments"),
    "changes": ("golive.changes.cli", "changes"),
    "itsm": ("golive.integrations.cli", "itsm"),
    "webhooks": ("golive.integrations.cli", "webhooks"),
    "windows": ("golive.changes.cli", "windows"),
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
    module, attribute = _COMMANDS[name]
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

    def list_commands(self, ctx: _click.Context) -> list[str]:
        return [*self.commands, *(name for name in _COMMANDS if name not in self.commands)]

    def get_command(self, ctx: _click.Context, cmd_name: str) -> _click.Command | None:
        if cmd_name not in self.commands and cmd_name in _COMMANDS:
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
