"""``golive work-orders …``: what people must do on manual targets."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, console, done, show_list, show_one

work_orders = typer.Typer(
    help="Work orders: what a person must do on a manual target.", no_args_is_help=True
)
COLUMNS = ["id", "state", "target", "component", "version", "assigned_role", "title"]


def _pairs(values: list[str] | None) -> dict[str, str]:
    pairs: dict[str, str] = {}
    for text in values or []:
        key, sep, value = text.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"{text!r} is not name=value", param_hint="--evidence")
        pairs[key] = value
    return pairs


@work_orders.command("open")
def open_work_order(
    target: Annotated[str, typer.Option(help="The manual target.")],
    ref: Annotated[str, typer.Option("--version", help="COMPONENT@VERSION to put in place.")],
    title: Annotated[str, typer.Option(help="What is to be done, in a line.")],
    role: Annotated[str, typer.Option(help="The role that carries it out.")],
    check: Annotated[list[str] | None, typer.Option(help="A checklist item; repeatable.")] = None,
    evidence: Annotated[
        list[str] | None, typer.Option(help="Evidence to record; repeatable.")
    ] = None,
    hardware: Annotated[str | None, typer.Option(help="Serial of a reserved DHS item.")] = None,
    instructions: Annotated[str, typer.Option(help="Longer instructions.")] = "",
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Open a work order (and its assignment) on a manual target."""
    component, sep, version = ref.partition("@")
    if not sep:
        raise typer.BadParameter(f"{ref!r} is not COMPONENT@VERSION", param_hint="--version")
    body: dict[str, Any] = {
        "target": target,
        "component": component,
        "version": version,
        "title": title,
        "assigned_role": role,
        "instructions": instructions,
        "checklist": check or [],
        "evidence_required": evidence or [],
    }
    if hardware:
        body["hardware_serial"] = hardware
    opened = ApiClient().post("/api/v1/work-orders", body)
    done(f"Opened work order {opened['id']} for {role} on {target}.", output, opened)


@work_orders.command("list")
def list_work_orders(
    state: Annotated[str | None, typer.Option(help="open, completed or failed")] = None,
    role: Annotated[str | None, typer.Option(help="Only those assigned to this role.")] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List work orders."""
    items = ApiClient().paged("/api/v1/work-orders", state=state, role=role)
    show_list(items, COLUMNS, output, "work orders")


@work_orders.command("show")
def show_work_order(work_order_id: int, output: OutputOption = OutputFormat.TABLE) -> None:
    """Show a work order with its checklist and evidence."""
    order = ApiClient().get(f"/api/v1/work-orders/{work_order_id}")
    if output is OutputFormat.JSON:
        show_one(order, output)
        return
    show_one({k: v for k, v in order.items() if k not in ("checklist", "evidence")}, output)
    for item in order["checklist"]:
        console.print(f"  [{'x' if item['done'] else ' '}] {item['item']}. {item['text']}")
    for name in order["evidence_required"]:
        console.print(f"  evidence {name}: {order['evidence'].get(name, '(not yet)')}")


@work_orders.command("complete")
def complete_work_order(
    work_order_id: int,
    check: Annotated[
        list[int] | None, typer.Option(help="Checklist item number done; repeatable.")
    ] = None,
    all_checked: Annotated[
        bool, typer.Option("--all-checked", help="Every checklist item is done.")
    ] = False,
    evidence: Annotated[list[str] | None, typer.Option(help="name=value; repeatable.")] = None,
    note: Annotated[str | None, typer.Option()] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Close a work order as done."""
    client = ApiClient()
    ticked = list(check or [])
    if all_checked:
        order = client.get(f"/api/v1/work-orders/{work_order_id}")
        ticked = [item["item"] for item in order["checklist"]]
    body: dict[str, Any] = {"checked": ticked, "evidence": _pairs(evidence)}
    if note:
        body["note"] = note
    closed = client.post(f"/api/v1/work-orders/{work_order_id}/complete", body)
    done(
        f"Work order {work_order_id} completed; assignment {closed['assignment_id']} "
        f"{closed['assignment_state']}.",
        output,
        closed,
    )


@work_orders.command("fail")
def fail_work_order(
    work_order_id: int,
    reason: Annotated[str, typer.Option(help="Why it could not be done.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Close a work order as not done."""
    closed = ApiClient().post(f"/api/v1/work-orders/{work_order_id}/fail", {"reason": reason})
    done(f"Work order {work_order_id} failed.", output, closed)
