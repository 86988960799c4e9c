"""``golive hardware`` commands (clients of the hardware store API)."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, done, errors, show_list, show_one
from golive.hardware.rules import ItemState

hardware = typer.Typer(
    help="The definitive hardware store: spare hardware, its build details and its state.",
    no_args_is_help=True,
)
models = typer.Typer(help="Hardware models: the kinds of hardware the store holds.")
items = typer.Typer(help="Hardware items: each piece of hardware, by serial number.")
hardware.add_typer(models, name="models", no_args_is_help=True)
hardware.add_typer(items, name="items", no_args_is_help=True)

Json = OutputOption
MODEL_COLUMNS = ["name", "vendor", "model", "minimum_stock", "specification", "description"]
ITEM_COLUMNS = ["serial", "model", "state", "target", "store_location", "asset_tag", "build"]
STOCK_COLUMNS = ["model", "vendor", "vendor_model", "minimum_stock", "in_store"]
MODELS = "/api/v1/hardware/models"
ITEMS = "/api/v1/hardware/items"


def _details(values: list[str] | None, option: str) -> dict[str, str]:
    """``key=value`` options to a dict; the value may hold spaces and '='."""
    parsed: dict[str, str] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{text!r} is not key=value", param_hint=option)
        parsed[key] = value
    return parsed


# --- hardware models ----------------------------------------------------------


@models.command("create")
def model_create(
    name: Annotated[str, typer.Argument(help="A slug: lower-case letters, digits and '-'.")],
    vendor: Annotated[str, typer.Option(help="Who makes it.")],
    model: Annotated[str, typer.Option(help="The vendor's model name.")],
    spec: Annotated[
        list[str] | None, typer.Option(help="Specification as key=value; repeatable.")
    ] = None,
    minimum_stock: Annotated[int, typer.Option(help="Items to keep in the store.")] = 0,
    description: Annotated[str, typer.Option()] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Register a hardware model."""
    body: dict[str, Any] = {
        "name": name,
        "vendor": vendor,
        "model": model,
        "specification": _details(spec, "--spec"),
        "minimum_stock": minimum_stock,
        "description": description,
    }
    created = ApiClient().post(MODELS, body)
    done(f"Created hardware model {created['name']}.", output, created)


@models.command("list")
def model_list(output: Json = OutputFormat.TABLE) -> None:
    """List hardware models."""
    show_list(ApiClient().paged(MODELS), MODEL_COLUMNS, output, "hardware models")


@models.command("show")
def model_show(name: str, output: Json = OutputFormat.TABLE) -> None:
    """Show one hardware model."""
    show_one(ApiClient().get(f"{MODELS}/{name}"), output)


@models.command("update")
def model_update(
    name: str,
    vendor: Annotated[str | None, typer.Option()] = None,
    model: Annotated[str | None, typer.Option()] = None,
    spec: Annotated[
        list[str] | None, typer.Option(help="key=value; replaces the whole specification.")
    ] = None,
    minimum_stock: Annotated[int | None, typer.Option()] = None,
    description: Annotated[str | None, typer.Option()] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change a hardware model."""
    body: dict[str, Any] = {
        key: value
        for key, value in (
            ("vendor", vendor),
            ("model", model),
            ("minimum_stock", minimum_stock),
            ("description", description),
        )
        if value is not None
    }
    if spec is not None:
        body["specification"] = _details(spec, "--spec")
    if not body:
        raise typer.BadParameter("give at least one thing to change")
    updated = ApiClient().patch(f"{MODELS}/{name}", body)
    done(f"Updated hardware model {name}.", output, updated)


# --- hardware items -----------------------------------------------------------


@items.command("add")
def item_add(
    serial: Annotated[str, typer.Argument(help="The serial number.")],
    model: Annotated[str, typer.Option(help="Its hardware model.")],
    location: Annotated[str, typer.Option(help="Where in the store it is held.")],
    asset_tag: Annotated[str | None, typer.Option(help="The organisation's asset tag.")] = None,
    build: Annotated[
        list[str] | None, typer.Option(help="Build detail as key=value; repeatable.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Take a built item into the store."""
    body: dict[str, Any] = {
        "serial": serial,
        "model": model,
        "store_location": location,
        "build": _details(build, "--build"),
        "reason": reason,
    }
    if asset_tag is not None:
        body["asset_tag"] = asset_tag
    created = ApiClient().post(ITEMS, body)
    done(f"Added item {created['serial']} ({created['model']}) to the store.", output, created)


@items.command("list")
def item_list(
    model: Annotated[str | None, typer.Option(help="Only this hardware model.")] = None,
    state: Annotated[ItemState | None, typer.Option(help="Only items in this state.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """List hardware items."""
    found = ApiClient().paged(ITEMS, model=model, state=state.value if state else None)
    show_list(found, ITEM_COLUMNS, output, "hardware items")


@items.command("show")
def item_show(serial: str, output: Json = OutputFormat.TABLE) -> None:
    """Show one hardware item."""
    show_one(ApiClient().get(f"{ITEMS}/{serial}"), output)


@items.command("update")
def item_update(
    serial: str,
    location: Annotated[str | None, typer.Option(help="Where in the store it is held.")] = None,
    asset_tag: Annotated[str | None, typer.Option()] = None,
    build: Annotated[
        list[str] | None, typer.Option(help="key=value; replaces the whole recorded build.")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why, for the audit trail.")] = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Change an item's build details, store location or asset tag."""
    body: dict[str, Any] = {}
    if location is not None:
        body["store_location"] = location
    if asset_tag is not None:
        body["asset_tag"] = asset_tag
    if build is not None:
        body["build"] = _details(build, "--build")
    if not body:
        raise typer.BadParameter("give at least one of --location, --asset-tag, --build")
    body["reason"] = reason
    updated = ApiClient().patch(f"{ITEMS}/{serial}", body)
    done(f"Updated item {serial}.", output, updated)


ReasonOption = Annotated[str, typer.Option(help="Why, for the audit trail.")]


@items.command("reserve")
def item_reserve(
    serial: str,
    target: Annotated[str, typer.Option(help="The target the item is held for.")],
    reason: ReasonOption = "",
    output: Json = OutputFormat.TABLE,
) -> None:
    """Reserve an item in the store for a target."""
    moved = ApiClient().post(f"{ITEMS}/{serial}/reserve", {"target": target, "reason": reason})
    done(f"Reserved item {serial} for {moved['target']}.", output, moved)


def _move(serial: str, verb: str, reason: str, output: OutputFormat, message: str) -> None:
    moved = ApiClient().post(f"{ITEMS}/{serial}/{verb}", {"reason": reason})
    done(message.format(serial=serial, state=moved["state"]), output, moved)


@items.command("return")
def item_return(serial: str, reason: ReasonOption = "", output: Json = OutputFormat.TABLE) -> None:
    """Return an item to the store (from a reservation, a site or repair)."""
    _move(serial, "return", reason, output, "Returned item {serial} to the store.")


@items.command("repair")
def item_repair(serial: str, reason: ReasonOption = "", output: Json = OutputFormat.TABLE) -> None:
    """Send an item for repair."""
    _move(serial, "repair", reason, output, "Item {serial} is now in_repair.")


@items.command("retire")
def item_retire(serial: str, reason: ReasonOption = "", output: Json = OutputFormat.TABLE) -> None:
    """Retire an item from service."""
    _move(serial, "retire", reason, output, "Retired item {serial}.")


@items.command("dispose")
def item_dispose(serial: str, reason: ReasonOption = "", output: Json = OutputFormat.TABLE) -> None:
    """Record a retired item as disposed (final)."""
    _move(serial, "dispose", reason, output, "Disposed of item {serial}.")


# --- stock --------------------------------------------------------------------


@hardware.command("stock")
def stock_levels(
    model: Annotated[str | None, typer.Option(help="Only this hardware model.")] = None,
    output: Json = OutputFormat.TABLE,
) -> None:
    """Stock levels per hardware model; warns about every model below its minimum."""
    levels: list[dict[str, Any]] = ApiClient().get("/api/v1/hardware/stock", model=model)["items"]
    rows = [
        {**level, **{state.value: level["counts"][state.value] for state in ItemState}}
        for level in levels
    ]
    columns = [*STOCK_COLUMNS, *(s.value for s in ItemState if s is not ItemState.IN_STORE)]
    show_list(rows if output is OutputFormat.TABLE else levels, columns, output, "hardware models")
    for level in levels:
        if level["below_minimum"]:
            errors.print(
                f"warning: {level['model']} has {level['in_store']} in store, "
                f"below its minimum of {level['minimum_stock']}"
            )
