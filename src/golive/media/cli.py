"""``golive media …``: add, inspect, approve, withdraw, verify and prune library versions."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from golive.cli.client import ApiClient
from golive.cli.output import OutputFormat, OutputOption, console, done, errors, show_list, show_one

media = typer.Typer(
    help="The definitive media library: write-once versions of components.", no_args_is_help=True
)
CHUNK = 1024 * 1024
VERSION_COLUMNS = ["version", "status", "size", "digest", "filename", "added_by", "added_at"]


def split_ref(ref: str) -> tuple[str, str]:
    component, sep, version = ref.partition("@")
    if not sep or not component or not version:
        raise typer.BadParameter(f"{ref!r} is not COMPONENT@VERSION")
    return component, version


def _file_chunks(path: Path, progress: Progress | None, task: Any) -> Iterator[bytes]:
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            if progress is not None:
                progress.update(task, advance=len(chunk))
            yield chunk


def _upload(
    client: ApiClient, url: str, path: Path, params: dict[str, Any], label: str, show_progress: bool
) -> Any:
    size = path.stat().st_size
    headers = {"Content-Type": "application/octet-stream", "Content-Length": str(size)}
    if not show_progress:
        return client.request(
            "POST", url, params=params, content=_file_chunks(path, None, None), headers=headers
        ).json()
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=errors, transient=True) as progress:
        task = progress.add_task(label, total=size)
        return client.request(
            "POST", url, params=params, content=_file_chunks(path, progress, task), headers=headers
        ).json()


@media.command("add")
def media_add(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True)],
    component: Annotated[str, typer.Option(help="The component this is a version of.")],
    version: Annotated[str, typer.Option(help="The version, e.g. 1.4.2.")],
    notes: Annotated[str, typer.Option(help="Release notes or remarks.")] = "",
    source: Annotated[
        str | None, typer.Option(help="Where it came from (URL of the build).")
    ] = None,
    filename: Annotated[
        str | None, typer.Option(help="Name agents see (default: the file's).")
    ] = None,
    media_type: Annotated[str, typer.Option(help="MIME type.")] = "application/octet-stream",
    attach: Annotated[
        list[Path] | None,
        typer.Option(help="An SBOM or attestation; repeatable.", exists=True, dir_okay=False),
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Add a file to the library as a new, quarantined version (streamed, never modified)."""
    client = ApiClient(timeout=3600)
    params = {
        "version": version,
        "filename": filename or file.name,
        "media_type": media_type,
        "notes": notes,
        "source": source,
    }
    params = {k: v for k, v in params.items() if v is not None}
    interactive = output is OutputFormat.TABLE and errors.is_terminal
    added = _upload(
        client,
        f"/api/v1/components/{component}/versions",
        file,
        params,
        f"Adding {file.name}",
        interactive,
    )
    for extra in attach or []:
        added = _upload(
            client,
            f"/api/v1/components/{component}/versions/{version}/attachments",
            extra,
            {"filename": extra.name},
            f"Attaching {extra.name}",
            interactive,
        )
    done(
        f"{component}@{version}: {added['status']}, sha256 {added['digest']}, "
        f"{added['size']} bytes"
        + (f", {len(added['attachments'])} attachment(s)" if added["attachments"] else "")
        + ".",
        output,
        added,
    )


@media.command("list")
def media_list(
    component: str,
    status: Annotated[
        str | None, typer.Option(help="quarantined, approved, withdrawn, corrupt")
    ] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """List a component's versions, newest first."""
    items = ApiClient().paged(f"/api/v1/components/{component}/versions", status=status)
    rows = (
        items if output is OutputFormat.JSON else [{**i, "digest": i["digest"][:16]} for i in items]
    )
    show_list(rows, VERSION_COLUMNS, output, "versions")


@media.command("show")
def media_show(
    ref: Annotated[str, typer.Argument(help="COMPONENT@VERSION")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Show a version: digest, size, status and provenance."""
    component, version = split_ref(ref)
    show_one(ApiClient().get(f"/api/v1/components/{component}/versions/{version}"), output)


@media.command("approve")
def media_approve(
    ref: Annotated[str, typer.Argument(help="COMPONENT@VERSION")],
    reason: Annotated[str | None, typer.Option()] = None,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Approve a quarantined version for deployment (and publish it to agents)."""
    component, version = split_ref(ref)
    body = {"reason": reason} if reason else {}
    changed = ApiClient().post(f"/api/v1/components/{component}/versions/{version}/approve", body)
    done(f"{ref} is approved.", output, changed)


@media.command("withdraw")
def media_withdraw(
    ref: Annotated[str, typer.Argument(help="COMPONENT@VERSION")],
    reason: Annotated[str, typer.Option(help="Why; kept in the audit trail.")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Withdraw a version: it can never be deployed again."""
    component, version = split_ref(ref)
    changed = ApiClient().post(
        f"/api/v1/components/{component}/versions/{version}/withdraw", {"reason": reason}
    )
    done(f"{ref} is withdrawn.", output, changed)


@media.command("verify")
def media_verify(
    ref: Annotated[str | None, typer.Argument(help="COMPONENT@VERSION, or COMPONENT")] = None,
    all_versions: Annotated[
        bool, typer.Option("--all", help="Every version in the library.")
    ] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Rehash stored blobs; any mismatch or missing blob marks its version corrupt (exit 1)."""
    if (ref is None) == (not all_versions):
        raise typer.BadParameter("give COMPONENT@VERSION, COMPONENT, or --all")
    body: dict[str, Any] = {}
    if ref is not None:
        if "@" in ref:
            body["component"], body["version"] = split_ref(ref)
        else:
            body["component"] = ref
    with console.status("Rehashing the library…") if output is OutputFormat.TABLE else _nothing():
        result = ApiClient(timeout=3600).post("/api/v1/media/verify", body)
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
    else:
        for finding in result["findings"]:
            if not finding["ok"]:
                errors.print(f"CORRUPT {finding['version']}: {finding['problem']}")
        console.print(f"Checked {result['checked']} version(s): {result['corrupt']} corrupt.")
    if result["corrupt"]:
        raise typer.Exit(1)


class _nothing:  # a stand-in context manager
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


@media.command("prune")
def media_prune(
    keep: Annotated[int, typer.Option(min=1, help="Keep this many newest versions per component.")],
    component: Annotated[str | None, typer.Option(help="Only this component.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Show what would go; change nothing.")] = False,
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Remove old versions, never one still in use, never a blob another version needs."""
    body: dict[str, Any] = {"keep": keep, "dry_run": dry_run}
    if component:
        body["component"] = component
    result = ApiClient().post("/api/v1/media/prune", body)
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(result, indent=2, sort_keys=True))
        return
    verb = "Would remove" if dry_run else "Removed"
    console.print(
        f"{verb} {len(result['removed'])} version(s): {', '.join(result['removed']) or '-'}"
    )
    for ref, reasons in result["kept_in_use"].items():
        console.print(f"Kept {ref}: {'; '.join(reasons)}")


@media.command("deployable")
def media_deployable(
    ref: Annotated[str, typer.Argument(help="COMPONENT@VERSION")],
    env: Annotated[str, typer.Option("--env")],
    output: OutputOption = OutputFormat.TABLE,
) -> None:
    """Say whether a version may be deployed to an environment (exit 1 when not)."""
    component, version = split_ref(ref)
    answer = ApiClient().get(
        "/api/v1/media/deployable", component=component, version=version, environment=env
    )
    if output is OutputFormat.JSON:
        typer.echo(json.dumps(answer, indent=2, sort_keys=True))
    else:
        console.print(
            f"{ref} may be deployed to {env}." if answer["deployable"] else answer["reason"]
        )
    if not answer["deployable"]:
        raise typer.Exit(1)
