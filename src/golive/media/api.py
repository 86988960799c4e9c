"""Media library endpoints: versions of components, their status, verification and retention."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import FileResponse, JSONResponse, Response, StreamingResponse

from golive.api.deps import DB, Limit, Offset, page, require
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.db import Database
from golive.inventory.schemas import StrictModel
from golive.inventory.service import component_id, get_environment
from golive.media import service
from golive.media.ingest import ingest_stream
from golive.media.models import VersionStatus
from golive.media.publication import publish_library
from golive.media.storage import BlobStore
from golive.validation import FromString, LongText, ShortText

router = APIRouter(prefix="/api/v1", tags=["media library"])
Reader = Annotated[Actor, Depends(require(Permission.MEDIA_READ))]
Adder = Annotated[Actor, Depends(require(Permission.MEDIA_ADD))]
Approver = Annotated[Actor, Depends(require(Permission.MEDIA_APPROVE))]
Verifier = Annotated[Actor, Depends(require(Permission.MEDIA_VERIFY))]
Pruner = Annotated[Actor, Depends(require(Permission.MEDIA_PRUNE))]
Obj = dict[str, Any]
IMMUTABLE = "public, max-age=31536000, immutable"


class StatusChange(StrictModel):
    reason: ShortText | None = None


class VerifyRequest(StrictModel):
    component: str | None = None
    version: str | None = None


class PruneRequest(StrictModel):
    keep: Annotated[int, FromString]
    component: str | None = None
    dry_run: bool = False


def _blobs(request: Request) -> BlobStore:
    store: BlobStore = request.app.state.blobs
    return store


def _republish(request: Request, db: Database) -> None:
    publish_library(db, getattr(request.app.state, "tuf", None))


def _store(store: BlobStore, ingested: Any) -> None:
    store.put_file(ingested.digest, ingested.path)


@router.post(
    "/components/{name}/versions",
    summary="Add a version: the request body is the file itself (streamed, hashed, stored once)",
    status_code=201,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def add_version(
    name: str,
    request: Request,
    db: DB,
    actor: Adder,
    version: Annotated[str, Query(description="The version, e.g. 1.4.2.")],
    filename: Annotated[str | None, Query(description="File name agents see.")] = None,
    media_type: Annotated[str, Query(max_length=127)] = "application/octet-stream",
    notes: Annotated[str, Query(max_length=4000)] = "",
    source: Annotated[str | None, Query(max_length=2048, description="Where it came from.")] = None,
) -> Response:
    service.check_version_name(version)
    chosen = service.check_filename(filename or f"{name}-{version}")
    with db.engine.connect() as connection:  # refuse unknown components before any bytes
        component_id(connection, name)
    settings = request.app.state.settings
    ingested = await ingest_stream(
        request.stream(), settings.uploads_dir, settings.max_upload_bytes
    )
    store = _blobs(request)
    spec = service.NewVersion(name, version, chosen, media_type, notes, source)

    def record() -> tuple[Obj, bool]:
        _store(store, ingested)  # one trip to a worker thread for the blob and the record
        with db.writing() as session:
            return service.record_version(session, actor, spec, ingested.digest, ingested.size)

    shown, created = await asyncio.to_thread(record)
    return JSONResponse(shown, status_code=201 if created else 200)


@router.get("/components/{name}/versions", summary="Versions of a component, newest first")
def list_versions(
    name: str,
    db: DB,
    _actor: Reader,
    status: Annotated[VersionStatus | None, Query()] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> Obj:
    with db.reading() as session:
        found = service.list_versions(
            session, name, status=status.value if status else None, limit=limit, offset=offset
        )
        return page([v.as_dict() for v in found], limit, offset)


@router.get("/components/{name}/versions/{version}", summary="Show a version and its provenance")
def show_version(name: str, version: str, db: DB, _actor: Reader) -> Obj:
    with db.reading() as session:
        return service.get_version(session, name, version).as_dict()


@router.get("/components/{name}/versions/{version}/content", summary="Download a version's file")
def version_content(name: str, version: str, request: Request, db: DB, _actor: Reader) -> Response:
    with db.reading() as session:
        found = service.get_version(session, name, version)
        digest, filename, media_type = found.digest, found.filename, found.media_type
    store = _blobs(request)
    headers = {
        "ETag": f'"{digest}"',
        "Cache-Control": IMMUTABLE,
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    local = store.local_path(digest)
    if local is not None and Path(local).is_file():
        return FileResponse(local, media_type=media_type, headers=headers)
    stream = store.open(digest)
    return StreamingResponse(
        iter(lambda: stream.read(1024 * 1024), b""), media_type=media_type, headers=headers
    )


@router.post(
    "/components/{name}/versions/{version}/attachments",
    summary="Attach an SBOM or attestation (the body is the file)",
    status_code=201,
    openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}},
)
async def add_attachment(
    name: str,
    version: str,
    request: Request,
    db: DB,
    actor: Adder,
    filename: Annotated[str, Query()],
    media_type: Annotated[str, Query(max_length=127)] = "application/octet-stream",
) -> Obj:
    service.check_filename(filename)
    with db.reading() as session:
        service.get_version(session, name, version)
    settings = request.app.state.settings
    ingested = await ingest_stream(
        request.stream(), settings.uploads_dir, settings.max_upload_bytes
    )
    await asyncio.to_thread(_store, _blobs(request), ingested)

    def record() -> Obj:
        with db.writing() as session:
            service.add_attachment(
                session, actor, name, version, filename, media_type, ingested.digest, ingested.size
            )
            return service.get_version(session, name, version).as_dict()

    return await asyncio.to_thread(record)


@router.post(
    "/components/{name}/versions/{version}/approve", summary="Approve a quarantined version"
)
def approve(
    name: str,
    version: str,
    request: Request,
    db: DB,
    actor: Approver,
    body: StatusChange | None = None,
) -> Obj:
    with db.writing() as session:
        found = service.change_status(
            session, actor, name, version, VersionStatus.APPROVED, body.reason if body else None
        )
        problem = service.check_blob_present(_blobs(request), found.digest, found.size)
        if problem:
            raise service.IntegrityError(f"{found.ref} cannot be approved: {problem}")
        shown = found.as_dict()
    _republish(request, db)
    return shown


@router.post(
    "/components/{name}/versions/{version}/withdraw", summary="Withdraw a version for good"
)
def withdraw(
    name: str, version: str, request: Request, db: DB, actor: Approver, body: StatusChange
) -> Obj:
    with db.writing() as session:
        shown = service.change_status(
            session, actor, name, version, VersionStatus.WITHDRAWN, body.reason
        ).as_dict()
    _republish(request, db)
    return shown


@router.get("/media/deployable", summary="May this version be deployed to this environment?")
def deployable(db: DB, _actor: Reader, component: str, version: str, environment: str) -> Obj:
    with db.reading() as session:
        found = service.get_version(session, component, version)
        problem = service.deployable_problem(session, found, get_environment(session, environment))
    return {
        "version": f"{component}@{version}",
        "environment": environment,
        "deployable": problem is None,
        "reason": problem,
    }


@router.post("/media/verify", summary="Rehash blobs; mismatched or missing ones become corrupt")
def verify(request: Request, db: DB, actor: Verifier, body: VerifyRequest | None = None) -> Obj:
    spec = body or VerifyRequest()
    store = _blobs(request)
    with db.reading() as session:
        versions = [
            (v.id, v.ref, v.digest, v.size, v.status)
            for v in service.versions_to_verify(session, spec.component, spec.version)
        ]
    findings: list[service.VerifyFinding] = []
    for version_id, ref, digest, size, status in versions:
        problem = service.check_blob(store, digest, size)
        findings.append(service.VerifyFinding(ref, digest, problem is None, problem))
        if problem is not None and status != VersionStatus.CORRUPT.value:
            with db.writing() as session:
                service.mark_corrupt(session, version_id, problem)
    with db.writing() as session:
        service.record_verification(session, actor, findings)
    if any(not f.ok for f in findings):
        _republish(request, db)
    return {
        "checked": len(findings),
        "corrupt": sum(not f.ok for f in findings),
        "findings": [f.as_dict() for f in findings],
    }


@router.post("/media/prune", summary="Retention: keep the newest N versions of each component")
def prune(request: Request, db: DB, actor: Pruner, body: PruneRequest) -> Obj:
    store = _blobs(request)
    with db.writing() as session:
        plan = service.plan_prune(session, body.keep, body.component)
        result: Obj = {
            "removed": [v.ref for v in plan.remove],
            "kept_in_use": plan.kept_in_use,
            "dry_run": body.dry_run,
            "blobs_deleted": [],
        }
        if body.dry_run:
            return result
        unused = service.prune(session, actor, plan)
    for digest in unused:
        store.delete(digest)
    result["blobs_deleted"] = unused
    _republish(request, db)
    return result


__all__ = ["LongText", "router"]
