"""``golive environments|targets|components`` commands (clients of the inventory API)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, done, show_list, show_one
from golive.inventory.models import ComponentKind, ConnectionKind
from golive.validation import parse_label

environments = typer.Typer(
    help="Environments: where deployments go, in promotion order.", no_args_is_help=True
)
targets = typer.Typer(
    help="Targets: servers, devices, sites and locations in an environment.", no_args_is_help=True
)
components = typer.Typer(help="Components: the things golive deploys.", no_args_is_help=True)

Json = OutputOption
ENV_COLUMNS = ["name", "order", "description", "policy"]
TARGET_COLUMNS = ["name", "environment", "connection", "labels", "organisation", "address"]
COMPONENT_COLUMNS = ["name", "kind", "owner", "description"]


def _labels(values: list[str] | None) -> dict[str, str]:
    try:
        return dict(parse_label(text) for text in values or [])
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--label") from None


def _policy(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    if text.startswith("@"):
        try:
            with open(text[1:]) as handle:
                text = handle.read()
        except OSError as exc:
            raise typer.BadParameter(
                f"cannot read {text[1:]}: {exc.strerror}", param_hint="--policy"
            ) from None
    try:
        policy = json.loads(text)
    except ValueError:
        raise typer.BadParameter("is not valid JSON", param_hint="--policy") from None
    if not isinstance(policy, dict):
        raise typer.BadParameter("must be a JSON object", param_hint="--policy")
    return policy


# --- environments -----------------------------------------------------------


@environments.command("create")
def environment_create(
    name: Annotated[str, typer.Argument(help="A slug: lower-case letters, digits and '-'.")],
    description: Annotated[str, typer.Option(help="What the environment is for.")] = "",
    order: Annotated[int, typer.Option(help="Position in promotion order (0 first).")] = 0,
    policy: Annotated[str | None, typer.Option(help="Policy as JSON, or @FILE.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Create an environment."""
    body: dict[str, Any] = {"name": name, "description": description, "order": order}
    if (parsed := _policy(policy)) is not None:
        body["policy"] = parsed
    created = ApiClient().post("/api/v1/environments", body)
    done(f"Created environment {created['name']}.", output, created)


@environments.command("list")
def environment_list(output: Json = OutputFormat.TABLE) -> None:
    """List environments in promotion order."""
    show_list(ApiClient().paged("/api/v1/environments"), ENV_COLUMNS, output, "environments")


@environments.command("show")
def environment_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show one environment."""
    show_one(ApiClient().get(f"/api/v1/environments/{name}"), output)


@environments.command("update")
def environment_update(
    name: str,
    description: Annotated[str | None, typer.Option()] = None,
    order: Annotated[int | None, typer.Option()] = None,
    policy: Annotated[str | None, typer.Option(help="Policy as JSON, or @FILE.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change an environment's description, order or policy."""
    body: dict[str, Any] = {}
    if description is not None:
        body["description"] = description
    if order is not None:
        body["order"] = order
    if (parsed := _policy(policy)) is not None:
        body["policy"] = parsed
    if not body:
        raise typer.BadParameter("give at least one of --description, --order, --policy")
    updated = ApiClient().patch(f"/api/v1/environments/{name}", body)
    done(f"Updated environment {name}.", output, updated)


@environments.command("delete")
def environment_delete(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Delete an environment that has no targets."""
    ApiClient().delete(f"/api/v1/environments/{name}")
    done(f"Deleted environment {name}.", output, {"deleted": name})


# --- targets ------------------------------------------------------------------


@targets.command("create")
def target_create(
    name: str,
    env: Annotated[str, typer.Option("--env", help="The environment the target is in.")],
    label: Annotated[list[str] | None, typer.Option(help="key=value; repeatable.")] = None,
    connection: Annotated[
        ConnectionKind, typer.Option(help="How golive reaches it.")
    ] = ConnectionKind.AGENT,
    address: Annotated[str | None, typer.Option(help="Host name or location.")] = None,
    organisation: Annotated[str | None, typer.Option(help="Owning organisation (a slug).")] = None,
    description: Annotated[str, typer.Option()] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Register a target in an environment."""
    body: dict[str, Any] = {
        "name": name,
        "environment": env,
        "labels": _labels(label),
        "connection": connection.value,
        "description": description,
    }
    if address is not None:
        body["address"] = address
    if organisation is not None:
        body["organisation"] = organisation
    created = ApiClient().post("/api/v1/targets", body)
    done(f"Created target {created['name']} in {created['environment']}.", output, created)


@targets.command("list")
def target_list(
    env: Annotated[str | None, typer.Option("--env", help="Only this environment.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value; all must match.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """List targets."""
    _labels(label)
    items = ApiClient().paged("/api/v1/targets", environment=env, label=label or None)
    show_list(items, TARGET_COLUMNS, output, "targets")


@targets.command("show")
def target_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show one target."""
    show_one(ApiClient().get(f"/api/v1/targets/{name}"), output)


@targets.command("update")
def target_update(
    name: str,
    env: Annotated[str | None, typer.Option("--env", help="Move to this environment.")] = None,
    label: Annotated[list[str] | None, typer.Option(help="key=value; replaces all labels.")] = None,
    connection: Annotated[ConnectionKind | None, typer.Option()] = None,
    address: Annotated[str | None, typer.Option()] = None,
    organisation: Annotated[str | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change a target."""
    body: dict[str, Any] = {}
    if env is not None:
        body["environment"] = env
    if label is not None:
        body["labels"] = _labels(label)
    if connection is not None:
        body["connection"] = connection.value
    for key, value in (
        ("address", address),
        ("organisation", organisation),
        ("description", description),
    ):
        if value is not None:
            body[key] = value
    if not body:
        raise typer.BadParameter("give at least one thing to change")
    updated = ApiClient().patch(f"/api/v1/targets/{name}", body)
    done(f"Updated target {name}.", output, updated)


@targets.command("delete")
def target_delete(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Delete a target."""
    ApiClient().delete(f"/api/v1/targets/{name}")
    done(f"Deleted target {name}.", output, {"deleted": name})


# --- components -------------------------------------------------------------


@components.command("create")
def component_create(
    name: str,
    kind: Annotated[ComponentKind, typer.Option(help="What sort of thing it is.")],
    description: Annotated[str, typer.Option()] = "",
    owner: Annotated[str | None, typer.Option(help="Who answers for it.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Register a component."""
    body: dict[str, Any] = {"name": name, "kind": kind.value, "description": description}
    if owner is not None:
        body["owner"] = owner
    created = ApiClient().post("/api/v1/components", body)
    done(f"Created {created['kind']} component {created['name']}.", output, created)


@components.command("list")
def component_list(
    kind: Annotated[ComponentKind | None, typer.Option(help="Only this kind.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """List components."""
    items = ApiClient().paged("/api/v1/components", kind=kind.value if kind else None)
    show_list(items, COMPONENT_COLUMNS, output, "components")


@components.command("show")
def component_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show one component."""
    show_one(ApiClient().get(f"/api/v1/components/{name}"), output)


@components.command("update")
def component_update(
    name: str,
    description: Annotated[str | None, typer.Option()] = None,
    owner: Annotated[str | None, typer.Option()] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change a component's description or owner."""
    body = {k: v for k, v in (("description", description), ("owner", owner)) if v is not None}
    if not body:
        raise typer.BadParameter("give --description or --owner")
    updated = ApiClient().patch(f"/api/v1/components/{name}", body)
    done(f"Updated component {name}.", output, updated)


@components.command("delete")
def component_delete(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Delete a component."""
    ApiClient().delete(f"/api/v1/components/{name}")
    done(f"Deleted component {name}.", output, {"deleted": name})
