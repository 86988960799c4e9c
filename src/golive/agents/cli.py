"""``golive targets enroll-token|revoke-agent|installed`` and ``golive assignments``
(clients of the agent endpoints)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from golive.agents.rules import AssignmentState
from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, console, done, show_list, show_one
from golive.inventory.cli import targets
from golive.validation import parse_label

assignments = typer.Typer(
    help="Assignments: each target's part in a deployment and its history.",
    no_args_is_help=True,
)

Json = OutputOption
ASSIGNMENT_COLUMNS = ["id", "target", "component", "version", "action", "state", "updated_at"]
INSTALLED_COLUMNS = ["component", "version", "installed_at", "assignment_id", "matches"]
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def _labels(values: list[str] | None) -> dict[str, str]:
    try:
        return dict(parse_label(text) for text in values or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--label") from None


def parse_duration(text: str) -> timedelta:
    """``90s``, ``30m``, ``24h`` or ``7d`` to a timedelta."""
    found = _DURATION.fullmatch(text.strip())
    if found is None or int(found.group(1)) == 0:
        raise typer.BadParameter(
            f"{text!r} is not a duration such as 30m, 24h or 7d", param_hint="--expires-in"
        )
    return timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})


# --- targets: enrollment and agents ----------------------------------------------


@targets.command("enroll-token")
def enroll_token(
    env: Annotated[str, typer.Option("--env", help="The environment agents enroll into.")],
    label: Annotated[
        list[str] | None, typer.Option(help="key=value given to enrolled targets; repeatable.")
    ] = None,
    organisation: Annotated[
        str | None, typer.Option(help="Owning organisation of enrolled targets (a slug).")
    ] = None,
    expires_in: Annotated[
        str | None, typer.Option(help="Valid for this long: 30m, 24h, 7d (default: forever).")
    ] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Create an enrollment token for agents (the secret is printed once)."""
    body: dict[str, Any] = {"environment": env, "labels": _labels(label)}
    if organisation is not None:
        body["organisation"] = organisation
    if expires_in is not None:
        body["expires_at"] = (datetime.now(UTC) + parse_duration(expires_in)).isoformat()
    created = ApiClient().post("/api/v1/agent/enrollment-tokens", body)
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(created, indent=2, sort_keys=True))
        return
    expiry = created["expires_at"] or "never"
    console.print(
        f"Enrollment token {created['id']} for environment {created['environment']} "
        f"(expires: {expiry}). It is shown only now:"
    )
    typer.echo(created["token"])


@targets.command("revoke-agent")
def revoke_agent(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Revoke a target's agent: its every later call is refused and it stops."""
    revoked = ApiClient().post(f"/api/v1/targets/{name}/revoke-agent")
    done(f"Revoked the agent of target {name}.", output, revoked)


@targets.command("installed")
def installed(name: str, output: Json = OutputFormat.TABLE) -> None:
    """What golive recorded as installed on a target, against what its agent reported."""
    found = ApiClient().get(f"/api/v1/targets/{name}/installed")
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(found, indent=2, sort_keys=True))
        return
    show_list(found["installed"], INSTALLED_COLUMNS, output, f"components installed on {name}")
    for entry in found["unrecorded"]:
        console.print(
            f"warning: the agent reports {entry['component']} {entry['version']}, "
            "which golive never recorded as installed"
        )
    for entry in found["unauthorised"]:
        why = f": {entry['reason']}" if entry.get("reason") else ""
        console.print(f"warning: unauthorised {entry['component']} release {entry['current']}{why}")


# --- assignments ---------------------------------------------------------------


@assignments.command("list")
def assignment_list(
    target: Annotated[str | None, typer.Option(help="Only this target's.")] = None,
    state: Annotated[AssignmentState | None, typer.Option(help="Only in this state.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """List assignments, newest first."""
    found = ApiClient().paged(
        "/api/v1/assignments", target=target, state=state.value if state else None
    )
    show_list(found, ASSIGNMENT_COLUMNS, output, "assignments")


@assignments.command("show")
def assignment_show(assignment_id: int, output: Json = OutputFormat.TABLE) -> None:
    """Show one assignment with its history."""
    found = ApiClient().get(f"/api/v1/assignments/{assignment_id}")
    if output is OutputFormat.JSON:
        show_one(found, output)
        return
    events = found.pop("events")
    found.pop("output", None)
    show_one(found, output)
    show_list(events, ["recorded_at", "from_state", "state", "actor", "reason"], output, "events")
