"""``golive itsm`` and ``golive webhooks`` commands (clients of the integrations API)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from golive.cli.client import ApiClient
from golive.cli.output import (
    OutputFormat,
    OutputOption,
    console,
    done,
    show_list,
    show_one,
)

itsm = typer.Typer(
    help="The ITSM bridge: service management tools that raise and update changes.",
    no_args_is_help=True,
)
connections = typer.Typer(help="ITSM connections: who may sign requests to the bridge.")
itsm.add_typer(connections, name="connections", no_args_is_help=True)
webhooks = typer.Typer(
    help="Webhooks: change and deployment events posted, signed, to other tools.",
    no_args_is_help=True,
)

Json = OutputOption
CONNECTIONS = "/api/v1/itsm/connections"
WEBHOOKS = "/api/v1/webhooks"
DELIVERIES = "/api/v1/webhook-deliveries"
CONNECTION_COLUMNS = ["name", "actor", "active", "description", "created_by", "created_at"]
WEBHOOK_COLUMNS = ["name", "url", "events", "active", "created_by", "created_at"]
DELIVERY_COLUMNS = [
    "id",
    "webhook",
    "event",
    "audit_seq",
    "state",
    "attempts",
    "last_status",
    "next_attempt_at",
    "delivered_at",
    "last_error",
]


def _secret_once(what: str, created: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        done("", output, created)
        return
    console.print(what)
    console.print("Copy its secret now; it will not be shown again:")
    console.print(created["secret"], soft_wrap=True)


# --- ITSM connections --------------------------------------------------------------------


@connections.command("create")
def connection_create(
    name: str,
    description: Annotated[str, typer.Option(help="Which tool, who runs it.")] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Let an ITSM tool raise changes; prints the signing secret once."""
    created = ApiClient().post(CONNECTIONS, {"name": name, "description": description})
    _secret_once(
        f"Created ITSM connection {name}; its changes are recorded as {created['actor']}.",
        created,
        output,
    )


@connections.command("list")
def connection_list(output: Json = OutputFormat.TABLE) -> None:
    """List ITSM connections."""
    show_list(ApiClient().paged(CONNECTIONS), CONNECTION_COLUMNS, output, "ITSM connections")


@connections.command("show")
def connection_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show an ITSM connection."""
    show_one(ApiClient().get(f"{CONNECTIONS}/{name}"), output)


@connections.command("pause")
def connection_pause(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Refuse the connection's requests until it is resumed."""
    updated = ApiClient().patch(f"{CONNECTIONS}/{name}", {"active": False})
    done(f"Paused ITSM connection {name}.", output, updated)


@connections.command("resume")
def connection_resume(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Accept the connection's requests again."""
    updated = ApiClient().patch(f"{CONNECTIONS}/{name}", {"active": True})
    done(f"Resumed ITSM connection {name}.", output, updated)


@connections.command("rotate")
def connection_rotate(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Replace the connection's secret (the old one stops at once); prints it once."""
    rotated = ApiClient().post(f"{CONNECTIONS}/{name}/rotate")
    _secret_once(f"Replaced the secret of ITSM connection {name}.", rotated, output)


@connections.command("delete")
def connection_delete(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Remove an ITSM connection (the changes it raised stay)."""
    ApiClient().delete(f"{CONNECTIONS}/{name}")
    done(f"Deleted ITSM connection {name}.", output)


# --- webhooks ------------------------------------------------------------------------------

Events = Annotated[
    list[str] | None,
    typer.Option(
        "--event",
        help="Audit actions to send: change.*, deployment.*, deployment.failed, * …; "
        "repeatable (default change.* and deployment.*).",
    ),
]


@webhooks.command("create")
def webhook_create(
    name: str,
    url: Annotated[str, typer.Option(help="Where to post events (http or https).")],
    event: Events = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Subscribe a URL to events; prints the signing secret once."""
    body: dict[str, Any] = {"name": name, "url": url}
    if event:
        body["events"] = event
    created = ApiClient().post(WEBHOOKS, body)
    _secret_once(
        f"Created webhook {name}: {', '.join(created['events'])} to {created['url']}.",
        created,
        output,
    )


@webhooks.command("list")
def webhook_list(output: Json = OutputFormat.TABLE) -> None:
    """List webhook subscriptions."""
    show_list(ApiClient().paged(WEBHOOKS), WEBHOOK_COLUMNS, output, "webhooks")


@webhooks.command("show")
def webhook_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show a webhook subscription."""
    show_one(ApiClient().get(f"{WEBHOOKS}/{name}"), output)


@webhooks.command("update")
def webhook_update(
    name: str,
    url: Annotated[str | None, typer.Option(help="A new URL.")] = None,
    event: Annotated[
        list[str] | None, typer.Option("--event", help="Replaces the event filters.")
    ] = None,
    active: Annotated[
        bool | None, typer.Option("--resume/--pause", help="Send again, or hold deliveries.")
    ] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change a webhook's URL or events, or pause and resume it."""
    body: dict[str, Any] = {}
    if url is not None:
        body["url"] = url
    if event:
        body["events"] = event
    if active is not None:
        body["active"] = active
    if not body:
        raise typer.BadParameter("give at least one thing to change")
    updated = ApiClient().patch(f"{WEBHOOKS}/{name}", body)
    done(f"Updated webhook {name}.", output, updated)


@webhooks.command("rotate")
def webhook_rotate(
    name: str,
    overlap_hours: Annotated[
        float,
        typer.Option(
            min=0,
            max=168,
            help="Hours the old secret keeps signing too (a second signature), so the "
            "receiver can switch without refusing a delivery; 0 stops it at once.",
        ),
    ] = 0,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Replace the webhook's signing secret; prints the new one once."""
    rotated = ApiClient().post(f"{WEBHOOKS}/{name}/rotate", {"overlap_hours": overlap_hours})
    until = rotated.get("previous_secret_until")
    _secret_once(
        f"Replaced the signing secret of webhook {name}"
        + (f"; the old one also signs until {until}." if until else "; the old one stopped."),
        rotated,
        output,
    )


@webhooks.command("delete")
def webhook_delete(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Remove a webhook and its delivery log."""
    ApiClient().delete(f"{WEBHOOKS}/{name}")
    done(f"Deleted webhook {name}.", output)


@webhooks.command("deliveries")
def webhook_deliveries(
    webhook: Annotated[str | None, typer.Option(help="Only this webhook's.")] = None,
    state: Annotated[
        str | None, typer.Option(help="Only pending, delivered or failed deliveries.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many.")] = 50,
    output: Json = OutputFormat.TABLE,
) -> None:
    """The delivery log, newest first: attempts, last status and error."""
    if state is not None and state not in ("pending", "delivered", "failed"):
        raise typer.BadParameter("use pending, delivered or failed", param_hint="--state")
    answer = ApiClient().get(DELIVERIES, webhook=webhook, state=state, limit=limit)
    show_list(answer["items"], DELIVERY_COLUMNS, output, "webhook deliveries")


@webhooks.command("delivery")
def webhook_delivery(delivery_id: int, output: Json = OutputFormat.TABLE) -> None:
    """One delivery with every attempt and its payload."""
    delivery = ApiClient().get(f"{DELIVERIES}/{delivery_id}")
    if output is OutputFormat.JSON:
        show_one(delivery, output)
        return
    history, payload = delivery.pop("history"), delivery.pop("payload")
    show_one(delivery, output)
    console.print()
    show_list(history, ["attempt", "at", "status", "ms", "error"], output, "attempts yet")
    console.print()
    console.print(json.dumps(payload, indent=2, sort_keys=True))


@webhooks.command("retry")
def webhook_retry(delivery_id: int, output: Json = OutputFormat.TABLE) -> None:
    """Send a failed delivery once more, now."""
    retried = ApiClient().post(f"{DELIVERIES}/{delivery_id}/retry")
    done(f"Delivery {delivery_id} is {retried['state']} again.", output, retried)
