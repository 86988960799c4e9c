"""``golive deploy``, ``golive deployments …``, ``golive targets history`` and
``golive components where`` (clients of the deployments API)."""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer
from rich.live import Live
from rich.table import Table

from golive.agents.rules import HOOKS
from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, console, done, show_list, show_one
from golive.inventory.cli import components, targets
from golive.validation import parse_label

deployments = typer.Typer(
    help="Deployments: versions moved to targets in waves.", no_args_is_help=True
)
Json = OutputOption
COLUMNS = ["id", "versions", "environment", "strategy", "state", "created_by", "started_at"]
HISTORY_COLUMNS = ["recorded_at", "component", "version", "action", "outcome", "deployment_id"]
BAD_ENDINGS = {"failed", "halted", "rolled_back", "aborted"}
FINAL = {"succeeded", "failed", "rolled_back", "aborted"}


def _labels(values: list[str] | None) -> dict[str, str]:
    try:
        return dict(parse_label(text) for text in values or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--label") from None


def _hooks(values: list[str] | None) -> dict[str, str]:
    """``NAME=COMMAND`` options as the deployment's hooks (docs/agent.md, "Hooks")."""
    hooks: dict[str, str] = {}
    for text in values or []:
        name, _, command = text.partition("=")
        if name not in HOOKS or not command.strip():
            raise typer.BadParameter(
                f"{text!r} is not NAME=COMMAND with NAME one of {', '.join(HOOKS)}",
                param_hint="--hook",
            )
        hooks[name] = command
    return hooks


def _view(shown: dict[str, Any]) -> Table:
    table = Table(title=f"deployment {shown['id']}: {shown['state']}", header_style="bold")
    for column in ("WAVE", "TARGETS", "STATES"):
        table.add_column(column)
    for wave in shown["waves"]:
        states: dict[str, int] = {}
        for row in wave["targets"]:
            states[row["state"]] = states.get(row["state"], 0) + 1
        table.add_row(
            str(wave["index"]),
            str(len(wave["targets"])),
            ", ".join(f"{k}={v}" for k, v in sorted(states.items())),
        )
    for failure in shown.get("failures", []):
        table.add_row("failed", failure["target"], failure["reason"] or "-")
    notes = [f"change {shown['change_ref']}"] if shown.get("change_ref") else []
    if shown.get("reason") and shown["state"] not in ("running", "succeeded"):
        notes.append(str(shown["reason"]))
    if notes:
        table.caption = "; ".join(notes)
        table.caption_justify = "left"
    return table


def _watch(client: ApiClient, number: int, interval: float = 1.0) -> None:
    shown = client.get(f"/api/v1/deployments/{number}")
    with Live(_view(shown), console=console, refresh_per_second=4) as live:
        while shown["state"] not in FINAL:
            time.sleep(interval)
            shown = client.get(f"/api/v1/deployments/{number}")
            live.update(_view(shown))
    if not console.is_terminal:
        console.line()  # rich leaves the last frame unterminated when not on a terminal
    console.print(f"Deployment {number} {shown['state']}.")
    if shown["state"] in BAD_ENDINGS:
        raise typer.Exit(1)


def deploy(
    versions: Annotated[list[str], typer.Argument(help="COMPONENT@VERSION, one or more.")],
    env: Annotated[str, typer.Option("--env", help="The environment to deploy to.")],
    target_names: Annotated[
        str | None, typer.Option("--targets", help="Target names, comma-separated.")
    ] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value; all must match.")] = None,
    strategy: Annotated[str, typer.Option(help="big_bang or phased.")] = "big_bang",
    waves: Annotated[str, typer.Option(help="Cumulative waves: 1,10%,50%,100%.")] = "",
    bake: Annotated[str, typer.Option(help="Watch time between waves: 2m.")] = "0s",
    max_failures: Annotated[str, typer.Option(help="Per wave: 3 or 5%.")] = "0",
    confirm_waves: Annotated[bool, typer.Option("--confirm-waves")] = False,
    all_or_nothing: Annotated[bool, typer.Option("--all-or-nothing")] = False,
    rollback_on_failure: Annotated[bool, typer.Option("--rollback-on-failure")] = False,
    offline_timeout: Annotated[
        str, typer.Option(help="How long a target whose agent is away is waited for: 10m.")
    ] = "10m",
    offline_policy: Annotated[
        str, typer.Option(help="What then happens to it: skip or fail.")
    ] = "skip",
    remove: Annotated[
        bool, typer.Option("--remove", help="Uninstall these versions from the targets.")
    ] = False,
    change: Annotated[str | None, typer.Option("--change", help="Change reference.")] = None,
    hook: Annotated[
        list[str] | None,
        typer.Option(
            "--hook",
            help="NAME=COMMAND run on each target (pre_install, post_install, health_check, "
            "pre_rollback); repeatable.",
        ),
    ] = None,
    plan: Annotated[bool, typer.Option("--plan", help="Show the plan; change nothing.")] = False,
    watch: Annotated[bool, typer.Option("--watch", help="Follow it live.")] = False,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Deploy versions to an environment's targets."""
    body: dict[str, Any] = {
        "versions": versions,
        "environment": env,
        "targets": {
            "names": [n.strip() for n in (target_names or "").split(",") if n.strip()],
            "labels": _labels(label),
        },
        "strategy": strategy,
        "waves": waves,
        "bake": bake,
        "max_failures": max_failures,
        "confirm_waves": confirm_waves,
        "all_or_nothing": all_or_nothing,
        "rollback_on_failure": rollback_on_failure,
        "offline_timeout": offline_timeout,
        "offline_policy": offline_policy,
        "action": "remove" if remove else "install",
        "change_ref": change,
        "hooks": _hooks(hook),
        "dry_run": plan,
    }
    client = ApiClient()
    answer = client.post("/api/v1/deployments", body)
    if plan:
        if output is OutputFormat.JSON:
            show_one(answer, output)
            return
        for wave in answer["waves"]:
            console.print(f"wave {wave['index']}: {', '.join(wave['targets'])}")
        for gate in answer["gates"]:
            console.print(f"gate: {gate}")
        console.print(f"estimate: {answer['estimate']} ({answer['estimate_assumes']})")
        return
    if watch:
        console.print(f"Created deployment {answer['id']}.")
        _watch(client, int(answer["id"]))
        return
    done(f"Created deployment {answer['id']} ({answer['state']}).", output, answer)


@deployments.command("list")
def deployment_list(
    state: Annotated[str | None, typer.Option(help="Only this state.")] = None,
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """List deployments, newest first."""
    items = ApiClient().paged("/api/v1/deployments", state=state, environment=env)
    show_list(items, COLUMNS, output, "deployments")


@deployments.command("show")
def deployment_show(
    number: int,
    watch: Annotated[bool, typer.Option("--watch", help="Follow it live.")] = False,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Show a deployment: waves, per-target states, failures."""
    client = ApiClient()
    if watch:
        _watch(client, number)
        return
    shown = client.get(f"/api/v1/deployments/{number}")
    if output is OutputFormat.JSON:
        show_one(shown, output)
        return
    console.print(_view(shown))


def _decision(verb: str, past: str) -> None:
    @deployments.command(verb)
    def _command(
        number: int,
        reason: Annotated[str | None, typer.Option(help="Why.")] = None,
        output: Json = OutputFormat.TABLE,
    ) -> None:
        body = {"reason": reason} if reason else {}
        shown = ApiClient().post(f"/api/v1/deployments/{number}/{verb}", body)
        done(f"Deployment {number} {past} ({shown['state']}).", output, shown)

    _command.__doc__ = f"{verb.capitalize()} a deployment."


for _verb, _past in (
    ("pause", "paused"),
    ("resume", "resumed"),
    ("abort", "is aborting"),
    ("confirm", "confirmed its next wave"),
    ("retry", "retries its failed targets"),
    ("rollback", "is rolling back"),
):
    _decision(_verb, _past)


@targets.command("history")
def target_history(name: str, output: Json = OutputFormat.TABLE) -> None:
    """What was deployed on a target, when, by whom, under which change."""
    items = ApiClient().paged(f"/api/v1/targets/{name}/history")
    show_list(items, [*HISTORY_COLUMNS, "change_ref", "deployed_by"], output, "records")


@components.command("where")
def component_where(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Which version of a component is on which target, per environment."""
    shown = ApiClient().get(f"/api/v1/components/{name}/where")
    rows = [
        {"environment": e["environment"], **t} for e in shown["environments"] for t in e["targets"]
    ]
    show_list(rows, ["environment", "target", "version", "installed_at"], output, "installs")
