"""``golive changes`` commands (clients of the change control API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from golive.changes.rules import ChangeState, ChangeType, Risk
from golive.cli.client import ApiClient
from golive.cli.output import (
    OutputFormat,
    OutputOption,
    console,
    done,
    errors,
    show_list,
    show_one,
)
from golive.validation import parse_label

changes = typer.Typer(
    help="Change control: change requests, their authorities and standard change models.",
    no_args_is_help=True,
)
authorities = typer.Typer(help="Change authorities: who decides which changes.")
models = typer.Typer(help="Standard change models: pre-authorised templates with a scope.")
changes.add_typer(authorities, name="authorities", no_args_is_help=True)
changes.add_typer(models, name="models", no_args_is_help=True)

Json = OutputOption
CHANGES = "/api/v1/changes"
AUTHORITIES = "/api/v1/change-authorities"
MODELS = "/api/v1/change-models"
CHANGE_COLUMNS = ["ref", "type", "state", "risk", "title", "environments", "requester"]
AUTHORITY_COLUMNS = ["name", "environment", "change_type", "quorum", "roles", "principals"]
MODEL_COLUMNS = ["name", "environments", "components", "max_targets", "strategies", "active"]

Envs = Annotated[list[str] | None, typer.Option("--env", help="Affected environment; repeatable.")]
Comps = Annotated[
    list[str] | None, typer.Option("--component", help="Affected component; repeatable.")
]
Targets = Annotated[list[str] | None, typer.Option("--target", help="Affected target; repeatable.")]
Labels = Annotated[
    list[str] | None, typer.Option("--label", help="Targets with this label (key=value).")
]
Windows = Annotated[
    list[str] | None,
    typer.Option(
        "--window",
        help="Planned window START/END, e.g. 2026-12-05T22:00/2026-12-06T02:00 (local in --tz).",
    ),
]


def _labels(values: list[str] | None) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for text in values or []:
        try:
            key, value = parse_label(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--label") from exc
        parsed[key] = value
    return parsed


def _windows(values: list[str] | None, tz: str) -> list[dict[str, str]]:
    found = []
    for text in values or []:
        start, sep, end = text.partition("/")
        if not sep or not start or not end:
            raise typer.BadParameter(f"{text!r} is not START/END", param_hint="--window")
        found.append({"start": start, "end": end, "tz": tz})
    return found


def _scope_body(
    env: list[str] | None,
    component: list[str] | None,
    target: list[str] | None,
    label: list[str] | None,
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if env is not None:
        body["environments"] = env
    if component is not None:
        body["components"] = component
    if target is not None:
        body["targets"] = target
    if label is not None:
        body["target_labels"] = _labels(label)
    return body


# --- change requests --------------------------------------------------------------------


@changes.command("list")
def change_list(
    state: Annotated[ChangeState | None, typer.Option(help="Only changes in this state.")] = None,
    change_type: Annotated[ChangeType | None, typer.Option("--type")] = None,
    env: Annotated[str | None, typer.Option(help="Only changes affecting it.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """List change requests, newest first."""
    params = {
        key: value
        for key, value in (
            ("state", state.value if state else None),
            ("type", change_type.value if change_type else None),
            ("environment", env),
        )
        if value is not None
    }
    show_list(ApiClient().paged(CHANGES, **params), CHANGE_COLUMNS, output, "changes")


@changes.command("inbox")
def change_inbox(output: Json = OutputFormat.TABLE) -> None:
    """Submitted changes waiting for your decision."""
    show_list(ApiClient().paged(f"{CHANGES}/inbox"), CHANGE_COLUMNS, output, "changes to decide")


@changes.command("show")
def change_show(ref: str, output: Json = OutputFormat.TABLE) -> None:
    """Show a change request, its decisions and what it still needs."""
    show_one(ApiClient().get(f"{CHANGES}/{ref}"), output)


@changes.command("create")
def change_create(
    title: Annotated[str, typer.Option(help="What the change is, in one line.")],
    env: Envs = None,
    change_type: Annotated[ChangeType, typer.Option("--type")] = ChangeType.NORMAL,
    component: Comps = None,
    target: Targets = None,
    label: Labels = None,
    window: Windows = None,
    tz: Annotated[str, typer.Option(help="Time zone of --window times.")] = "UTC",
    risk: Annotated[Risk, typer.Option()] = Risk.MEDIUM,
    impact: Annotated[str, typer.Option()] = "",
    description: Annotated[str, typer.Option()] = "",
    backout: Annotated[str, typer.Option(help="How to back the change out.")] = "",
    external_ref: Annotated[
        str | None, typer.Option(help="The ITSM tool's number, e.g. CHG0012345.")
    ] = None,
    model: Annotated[str | None, typer.Option(help="Standard change model.")] = None,
    freeze_override: Annotated[
        str | None,
        typer.Option(help="Emergency only: why the work may run inside freeze windows."),
    ] = None,
    submit: Annotated[bool, typer.Option(help="Submit it at once.")] = False,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Raise a change request (a draft unless --submit)."""
    if not env:
        raise typer.BadParameter("name at least one affected environment", param_hint="--env")
    body: dict[str, Any] = {
        "type": change_type.value,
        "title": title,
        "risk": risk.value,
        "impact": impact,
        "description": description,
        "backout_plan": backout,
        "planned_windows": _windows(window, tz),
        "submit": submit,
        **_scope_body(env, component, target, label),
    }
    if external_ref is not None:
        body["external_ref"] = external_ref
    if model is not None:
        body["model"] = model
    if freeze_override is not None:
        body["freeze_override_reason"] = freeze_override
    created = ApiClient().post(CHANGES, body)
    done(f"Raised change {created['ref']} ({created['state']}).", output, created)


@changes.command("update")
def change_update(
    ref: str,
    title: Annotated[str | None, typer.Option()] = None,
    env: Envs = None,
    component: Comps = None,
    target: Targets = None,
    label: Labels = None,
    window: Windows = None,
    tz: Annotated[str, typer.Option(help="Time zone of --window times.")] = "UTC",
    risk: Annotated[Risk | None, typer.Option()] = None,
    impact: Annotated[str | None, typer.Option()] = None,
    backout: Annotated[str | None, typer.Option()] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Edit a draft change request."""
    body = _scope_body(env, component, target, label)
    for key, value in (
        ("title", title),
        ("risk", risk.value if risk else None),
        ("impact", impact),
        ("backout_plan", backout),
    ):
        if value is not None:
            body[key] = value
    if window is not None:
        body["planned_windows"] = _windows(window, tz)
    if not body:
        raise typer.BadParameter("give at least one thing to change")
    updated = ApiClient().patch(f"{CHANGES}/{ref}", body)
    done(f"Updated change {updated['ref']}.", output, updated)


def _act(ref: str, verb: str, body: dict[str, Any] | None, output: OutputFormat) -> None:
    changed = ApiClient().post(f"{CHANGES}/{ref}/{verb}", body or {})
    done(f"Change {changed['ref']} is {changed['state']}.", output, changed)


@changes.command("submit")
def change_submit(ref: str, output: Json = OutputFormat.TABLE) -> None:
    """Ask the change authority to decide (a standard change is authorised at once)."""
    _act(ref, "submit", None, output)


Reason = Annotated[str, typer.Option(help="Why, for the record.")]


@changes.command("approve")
def change_approve(ref: str, reason: Reason = "", output: Json = OutputFormat.TABLE) -> None:
    """Approve a change (members of its change authority; not your own change)."""
    _act(ref, "decisions", {"decision": "approve", "reason": reason}, output)


@changes.command("reject")
def change_reject(ref: str, reason: Reason, output: Json = OutputFormat.TABLE) -> None:
    """Reject a change, with a reason."""
    _act(ref, "decisions", {"decision": "reject", "reason": reason}, output)


@changes.command("cancel")
def change_cancel(ref: str, reason: Reason, output: Json = OutputFormat.TABLE) -> None:
    """Cancel a change that has not been implemented."""
    _act(ref, "cancel", {"reason": reason}, output)


@changes.command("implemented")
def change_implemented(
    ref: str,
    outcome: Annotated[str, typer.Option(help="succeeded, failed, rolled_back …")] = "succeeded",
    reason: Reason = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Record that the work of a change is done (deployments do this themselves)."""
    _act(ref, "implemented", {"outcome": outcome, "reason": reason}, output)


@changes.command("review")
def change_review(
    ref: str,
    notes: Annotated[str, typer.Option(help="What the review found.")],
    output: Json = OutputFormat.TABLE,
) -> None:
    """Review an implemented emergency change."""
    _act(ref, "review", {"reason": notes}, output)


@changes.command("close")
def change_close(ref: str, reason: Reason = "", output: Json = OutputFormat.TABLE) -> None:
    """Close an implemented change."""
    _act(ref, "close", {"reason": reason}, output)


# --- authorities -------------------------------------------------------------------------


@authorities.command("create")
def authority_create(
    name: str,
    change_type: Annotated[ChangeType, typer.Option("--type")],
    env: Annotated[str | None, typer.Option(help="Its environment (none: every other).")] = None,
    role: Annotated[list[str] | None, typer.Option(help="A role that may decide.")] = None,
    principal: Annotated[list[str] | None, typer.Option(help="A person who may decide.")] = None,
    quorum: Annotated[int, typer.Option(help="Approvals needed.")] = 1,
    valid_hours: Annotated[int | None, typer.Option(help="Approvals expire after.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Set up a change authority for one environment and change type."""
    body: dict[str, Any] = {
        "name": name,
        "environment": env,
        "change_type": change_type.value,
        "roles": role or [],
        "principals": principal or [],
        "quorum": quorum,
        "approval_valid_hours": valid_hours,
    }
    created = ApiClient().post(AUTHORITIES, body)
    done(f"Created change authority {created['name']}.", output, created)


@authorities.command("list")
def authority_list(output: Json = OutputFormat.TABLE) -> None:
    """List change authorities."""
    show_list(ApiClient().paged(AUTHORITIES), AUTHORITY_COLUMNS, output, "change authorities")


@authorities.command("show")
def authority_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show a change authority."""
    show_one(ApiClient().get(f"{AUTHORITIES}/{name}"), output)


@authorities.command("update")
def authority_update(
    name: str,
    role: Annotated[list[str] | None, typer.Option(help="Replaces the roles.")] = None,
    principal: Annotated[list[str] | None, typer.Option(help="Replaces the people.")] = None,
    quorum: Annotated[int | None, typer.Option()] = None,
    valid_hours: Annotated[int | None, typer.Option()] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change who decides, and how many must agree."""
    body: dict[str, Any] = {}
    if role is not None:
        body["roles"] = role
    if principal is not None:
        body["principals"] = principal
    if quorum is not None:
        body["quorum"] = quorum
    if valid_hours is not None:
        body["approval_valid_hours"] = valid_hours
    if not body:
        raise typer.BadParameter("give at least one thing to change")
    updated = ApiClient().patch(f"{AUTHORITIES}/{name}", body)
    done(f"Updated change authority {name}.", output, updated)


@authorities.command("delete")
def authority_delete(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Remove a change authority (its environment falls back to the default)."""
    ApiClient().delete(f"{AUTHORITIES}/{name}")
    done(f"Deleted change authority {name}.", output)


# --- standard change models ----------------------------------------------------------------


@models.command("create")
def model_create(
    name: str,
    env: Envs = None,
    component: Comps = None,
    target: Targets = None,
    label: Labels = None,
    max_targets: Annotated[int | None, typer.Option(help="At most this many targets.")] = None,
    strategy: Annotated[list[str] | None, typer.Option(help="An allowed strategy.")] = None,
    description: Annotated[str, typer.Option()] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Define a standard change model: work inside its scope is authorised by it."""
    body: dict[str, Any] = {
        "name": name,
        "description": description,
        "max_targets": max_targets,
        "strategies": strategy or [],
        **_scope_body(env or [], component or [], target, label),
    }
    created = ApiClient().post(MODELS, body)
    done(f"Created standard change model {created['name']}.", output, created)


@models.command("list")
def model_list(output: Json = OutputFormat.TABLE) -> None:
    """List standard change models."""
    show_list(ApiClient().paged(MODELS), MODEL_COLUMNS, output, "standard change models")


@models.command("show")
def model_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show a standard change model."""
    show_one(ApiClient().get(f"{MODELS}/{name}"), output)


@models.command("retire")
def model_retire(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Stop a standard change model from authorising anything new."""
    updated = ApiClient().patch(f"{MODELS}/{name}", {"active": False})
    done(f"Retired standard change model {name}.", output, updated)


# --- windows and the schedule ------------------------------------------------------------

windows = typer.Typer(
    help="Allow (maintenance) and deny (blackout, freeze) windows, one-off or recurring.",
    no_args_is_help=True,
)
WINDOWS = "/api/v1/windows"
WINDOW_COLUMNS = ["name", "kind", "tz", "start", "duration_seconds", "rrule", "environments"]


@windows.command("create")
def window_create(
    name: str,
    kind: Annotated[str, typer.Option(help="allow (maintenance) or deny (freeze).")],
    start: Annotated[str, typer.Option(help="First start, local time, e.g. 2026-12-05T22:00.")],
    end: Annotated[str | None, typer.Option(help="End of the first occurrence.")] = None,
    duration: Annotated[str | None, typer.Option(help="Or its length: 2h, 1h30m.")] = None,
    rrule: Annotated[
        str | None, typer.Option(help="Recurrence (RFC 5545), e.g. FREQ=WEEKLY;BYDAY=SA.")
    ] = None,
    tz: Annotated[str, typer.Option(help="IANA time zone of the times.")] = "UTC",
    env: Envs = None,
    component: Comps = None,
    label: Labels = None,
    exdate: Annotated[
        list[str] | None, typer.Option(help="A local start that does not happen; repeatable.")
    ] = None,
    description: Annotated[str, typer.Option()] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Define a window."""
    body: dict[str, Any] = {
        "name": name,
        "kind": kind,
        "tz": tz,
        "start": start,
        "end": end,
        "duration": duration,
        "rrule": rrule,
        "exdates": exdate or [],
        "scope": {
            "environments": env or [],
            "components": component or [],
            "labels": _labels(label),
        },
        "description": description,
    }
    created = ApiClient().post(WINDOWS, body)
    nexts = created.get("next") or []
    when = f"; next {nexts[0]['start']}" if nexts else "; no occurrence in the next 30 days"
    done(f"Created {created['kind']} window {created['name']}{when}.", output, created)


@windows.command("list")
def window_list(output: Json = OutputFormat.TABLE) -> None:
    """List windows."""
    show_list(ApiClient().paged(WINDOWS), WINDOW_COLUMNS, output, "windows")


@windows.command("show")
def window_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show a window and its next occurrences."""
    show_one(ApiClient().get(f"{WINDOWS}/{name}"), output)


@windows.command("delete")
def window_delete(name: str, reason: Reason = "", output: Json = OutputFormat.TABLE) -> None:
    """Remove a window."""
    ApiClient().request("DELETE", f"{WINDOWS}/{name}", params={"reason": reason})
    done(f"Deleted window {name}.", output)


def schedule(
    since: Annotated[str | None, typer.Option("--from", help="ISO 8601 with offset.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="ISO 8601 with offset.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Planned and running deployments, changes and windows, and what clashes."""
    params = {key: value for key, value in (("from", since), ("to", until)) if value}
    plan = ApiClient().get("/api/v1/schedule", **params)
    if output is OutputFormat.JSON:
        show_one(plan, output)
        return
    table = Table(title=f"Schedule {plan['from']} to {plan['to']}", header_style="bold")
    for column in ("START", "END", "WHAT", "STATE", "ENVIRONMENT", "TITLE"):
        table.add_column(column)
    clashing = {ref for conflict in plan["conflicts"] for ref in conflict["refs"]}
    rows = [
        (item["start"], item["end"], item["ref"], item["state"], item["environment"], item["title"])
        for item in plan["changes"] + plan["deployments"]
    ]
    for window in plan["windows"]:
        for period in window["occurrences"]:
            scope = ",".join(window["scope"]["environments"]) or "all"
            rows.append(
                (
                    period["start"],
                    period["end"],
                    f"{window['kind']} window",
                    "",
                    scope,
                    window["name"],
                )
            )
    for row in sorted(rows):
        table.add_row(*row, style="red" if row[2] in clashing else None)
    console.print(table)
    if not plan["conflicts"]:
        console.print("No conflicts.")
    for conflict in plan["conflicts"]:
        errors.print(f"Conflict ({conflict['kind']}): {conflict['message']}")


def metrics(
    since: Annotated[str | None, typer.Option("--from", help="ISO 8601 with offset.")] = None,
    until: Annotated[str | None, typer.Option("--to", help="ISO 8601 with offset.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Figures of the practice for a period (default: the last 30 days)."""
    params = {key: value for key, value in (("from", since), ("to", until)) if value}
    found = ApiClient().get("/api/v1/metrics/practice", **params)
    if output is OutputFormat.JSON:
        show_one(found, output)
        return
    table = Table(title=f"Practice {found['from']} to {found['to']}", header_style="bold")
    for column in ("AREA", "FIGURE", "VALUE"):
        table.add_column(column)
    for area in ("deployments", "changes", "deviations", "time_to_decision_seconds"):
        for key, value in found[area].items():
            if key != "computed_from":
                table.add_row(area, key, _figure(key, value))
    console.print(table)


def _figure(key: str, value: Any) -> str:
    if value is None:
        return "-"
    if "share" in key and isinstance(value, float):
        return f"{value:.1%}"
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
    return str(value)
