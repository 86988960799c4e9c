"""``golive audit list|export|verify``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from golive.audit.chain import verify_events
from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, console, errors, show_list

audit = typer.Typer(help="The tamper-evident audit trail.", no_args_is_help=True)


@audit.command("list")
def audit_list(
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many events.")] = 50,
    after_seq: Annotated[int, typer.Option(help="Only events after this sequence number.")] = 0,
    actor: Annotated[str | None, typer.Option()] = None,
    action: Annotated[str | None, typer.Option(help="e.g. target.create")] = None,
    subject_type: Annotated[str | None, typer.Option()] = None,
    subject_id: Annotated[str | None, typer.Option()] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List audit events, oldest first."""
    answer = ApiClient().get(
        "/api/v1/audit/events",
        limit=limit,
        after_seq=after_seq,
        actor=actor,
        action=action,
        subject_type=subject_type,
        subject_id=subject_id,
    )
    rows = [
        {**e, "subject": f"{e['subject_type']}/{e['subject_id']}", "hash": e["hash"][:12]}
        for e in answer["items"]
    ]
    if output is OutputFormat.JSON:
        rows = answer["items"]
    show_list(
        rows,
        ["seq", "occurred_at", "actor", "action", "subject", "reason", "hash"],
        output,
        "audit events",
    )


@audit.command("export")
def audit_export(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Write here instead of stdout.")
    ] = None,
) -> None:
    """Export the whole trail as JSON lines (verify it later with `golive audit verify --file`)."""
    client = ApiClient()
    response = client.request("GET", "/api/v1/audit/export")
    if file is None:
        typer.echo(response.text, nl=False)
        return
    file.write_bytes(response.content)
    errors.print(f"Wrote {response.text.count(chr(10))} events to {file}.")


@audit.command("verify")
def audit_verify(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="Verify an export offline.")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Recompute the hash chain; exit 1 naming the first broken event."""
    verdict = _verify_file(file) if file is not None else ApiClient().get("/api/v1/audit/verify")
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(verdict, indent=2, sort_keys=True))
    elif verdict["ok"]:
        console.print(
            f"Audit chain intact: {verdict['checked']} events, "
            f"last {verdict['last_seq']} with hash {verdict['last_hash'][:16]}."
        )
    else:
        errors.print(
            f"Audit chain BROKEN at event {verdict['broken_seq']}: {verdict['problem']}. "
            f"{verdict['checked']} events before it check out."
        )
    if not verdict["ok"]:
        raise typer.Exit(1)


def _verify_file(path: Path) -> dict[str, Any]:
    try:
        with path.open() as handle:
            events = [json.loads(line) for line in handle if line.strip()]
    except (OSError, ValueError) as exc:
        raise typer.BadParameter(
            f"cannot read {path} as JSON lines: {exc}", param_hint="--file"
        ) from None
    return verify_events(events).as_dict()
