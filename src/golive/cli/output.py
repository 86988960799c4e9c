"""How client commands print: a Rich table or panel for people, JSON for scripts."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

# No markup: names, messages and patterns contain brackets that are data, not styling.
console = Console(markup=False, highlight=False)
errors = Console(stderr=True, markup=False, highlight=False)


class OutputFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


OutputOption = Annotated[
    OutputFormat,
    typer.Option(
        "--output", "-o", help="table for people, json for scripts.", case_sensitive=False
    ),
]


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return ",".join(f"{k}={v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ",".join(str(v) for v in value) or "-"
    return str(value)


def show_list(
    items: list[dict[str, Any]], columns: list[str], output: OutputFormat, title: str
) -> None:
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(items, indent=2, sort_keys=True))
        return
    if not items:
        console.print(f"No {title}.")
        return
    table = Table(title=None, header_style="bold")
    for column in columns:
        table.add_column(column.upper().replace("_", " "))
    for item in items:
        table.add_row(*(_cell(item.get(column)) for column in columns))
    console.print(table)


def show_one(item: dict[str, Any], output: OutputFormat) -> None:
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(item, indent=2, sort_keys=True))
        return
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    for key, value in item.items():
        table.add_row(
            key, json.dumps(value) if isinstance(value, dict) and key == "policy" else _cell(value)
        )
    console.print(table)


def done(message: str, output: OutputFormat, item: dict[str, Any] | None = None) -> None:
    """Report a completed change: the object as JSON for scripts, a sentence for people."""
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(item if item is not None else {"ok": True}, indent=2, sort_keys=True))
    else:
        console.print(message)
