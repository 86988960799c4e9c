"""``golive principals|tokens|login|whoami`` commands."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import typer

from golive.auth.roles import Role
from golive.cli.client import ApiClient, write_config
from golive.cli.output import OutputFormat, OutputOption, console, done, show_list, show_one

principals = typer.Typer(
    help="Principals: people, services and agents, with their roles.", no_args_is_help=True
)
tokens = typer.Typer(
    help="API tokens: shown once, stored only as hashes, revocable.", no_args_is_help=True
)

ROLE_HELP = "A role; repeatable. One of: " + ", ".join(role.value for role in Role)
_DURATION = re.compile(r"^(\d+)([mhdw])$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """``90m``, ``12h``, ``30d`` or ``2w`` as a timedelta."""
    match = _DURATION.fullmatch(text.strip())
    if match is None or int(match.group(1)) == 0:
        raise typer.BadParameter(
            "use a positive number and a unit: 90m, 12h, 30d or 2w", param_hint="--expires-in"
        )
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def login(
    url: Annotated[str, typer.Option(help="The golive server, e.g. http://127.0.0.1:8000.")],
    token: Annotated[str, typer.Option(help="An API token.", prompt=True, hide_input=True)],
) -> None:
    """Check a token against a server and save both for later commands."""
    me = ApiClient(url=url, token=token).get("/api/v1/me")
    path = write_config(url, token)
    console.print(
        f"Logged in to {url} as {me['name']} ({', '.join(me['roles'])}); saved to {path}."
    )


def whoami(output: OutputOption = OutputFormat.TABLE) -> None:
    """Show who the current token belongs to."""
    show_one(ApiClient().get("/api/v1/me"), output)


@principals.command("create")
def principal_create(
    name: str,
    role: Annotated[list[str], typer.Option(help=ROLE_HELP)],
    display_name: Annotated[str, typer.Option(help="A readable name.")] = "",
    organisation: Annotated[
        str | None, typer.Option(help="Owning organisation (suppliers).")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Create a principal."""
    body: dict[str, Any] = {"name": name, "roles": role, "display_name": display_name}
    if organisation is not None:
        body["organisation"] = organisation
    created = ApiClient().post("/api/v1/principals", body)
    done(f"Created principal {name} with roles {', '.join(created['roles'])}.", output, created)


@principals.command("list")
def principal_list(output: OutputOption = OutputFormat.TABLE) -> None:
    """List principals."""
    items = ApiClient().get("/api/v1/principals")["items"]
    show_list(
        items, ["name", "roles", "organisation", "disabled", "display_name"], output, "principals"
    )


@principals.command("show")
def principal_show(name: str, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show a principal."""
    show_one(ApiClient().get(f"/api/v1/principals/{name}"), output)


@principals.command("update")
def principal_update(
    name: str,
    role: Annotated[list[str] | None, typer.Option(help=ROLE_HELP + " Replaces all roles.")] = None,
    display_name: Annotated[str | None, typer.Option()] = None,
    organisation: Annotated[str | None, typer.Option()] = None,
    disable: Annotated[
        bool | None, typer.Option("--disable/--enable", help="Stop or allow its tokens.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Change a principal's roles or organisation, or disable it."""
    body: dict[str, Any] = {}
    if role:
        body["roles"] = role
    if display_name is not None:
        body["display_name"] = display_name
    if organisation is not None:
        body["organisation"] = organisation
    if disable is not None:
        body["disabled"] = disable
    if not body:
        raise typer.BadParameter("give at least one thing to change")
    updated = ApiClient().patch(f"/api/v1/principals/{name}", body)
    done(f"Updated principal {name}.", output, updated)


@tokens.command("create")
def token_create(
    principal: Annotated[str, typer.Option(help="Whose token it is.")],
    name: Annotated[str, typer.Option(help="What the token is for.")] = "",
    expires_in: Annotated[str | None, typer.Option(help="Lifetime: 90m, 12h, 30d, 2w.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Issue a token. Its secret is printed once; golive keeps only a hash."""
    body: dict[str, Any] = {"principal": principal, "name": name}
    if expires_in is not None:
        body["expires_at"] = (datetime.now(UTC) + parse_duration(expires_in)).isoformat()
    created = ApiClient().post("/api/v1/tokens", body)
    if output is OutputFormat.JSON:
        done("", output, created)
        return
    console.print(
        f"Token {created['id']} for {principal}"
        + (f", expires {created['expires_at']}" if created["expires_at"] else "")
        + "."
    )
    console.print("Copy it now; it will not be shown again:")
    console.print(created["token"], highlight=False, soft_wrap=True)


@tokens.command("list")
def token_list(
    principal: Annotated[str | None, typer.Option(help="Only this principal's.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List tokens (never their secrets)."""
    items = ApiClient().get("/api/v1/tokens", principal=principal)["items"]
    show_list(
        items,
        ["id", "principal", "name", "prefix", "created_at", "expires_at", "revoked_at"],
        output,
        "tokens",
    )


@tokens.command("revoke")
def token_revoke(
    token_id: Annotated[int, typer.Argument(help="The token's id (from `golive tokens list`).")],
    reason: Annotated[str | None, typer.Option(help="Why; kept in the audit trail.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Revoke a token at once."""
    body = {"reason": reason} if reason else {}
    revoked = ApiClient().post(f"/api/v1/tokens/{token_id}/revoke", body)
    done(f"Revoked token {token_id}.", output, revoked)
