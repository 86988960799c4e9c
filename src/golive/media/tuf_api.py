"""HTTP face of the TUF repository: metadata files and consistent-snapshot target downloads.

Public (no token): TUF's security does not rest on the transport or the server; agents
bootstrap from a pinned root and verify every signature, length and hash themselves.
Reads ``request.app.state.tuf`` (a TufRepository) and ``request.app.state.blobs`` (a BlobStore).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import BinaryIO

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, Response, StreamingResponse

from golive.errors import NotFoundError
from golive.media.storage import BlobStore
from golive.media.tuf_repo import TufRepository

router = APIRouter(prefix="/tuf", tags=["tuf"])

# Versioned metadata and hash-prefixed targets never change under their name.
IMMUTABLE = "public, max-age=31536000, immutable"
# timestamp.json is the one name whose content moves on; caches must ask every time.
NO_CACHE = "no-cache"
CHUNK_BYTES = 1024 * 1024


@router.get(
    "/metadata/{name}",
    summary="A TUF metadata file (N.root.json, N.targets.json, N.snapshot.json, timestamp.json)",
    response_class=Response,
)
def metadata(name: str, request: Request) -> Response:
    repo: TufRepository = request.app.state.tuf
    path = repo.metadata_file(name)
    try:
        data = path.read_bytes() if path is not None else None
    except FileNotFoundError:
        data = None
    if data is None:
        raise NotFoundError(f"no TUF metadata file {name!r}")
    etag = f'"{hashlib.sha256(data).hexdigest()}"'
    headers = {"Cache-Control": NO_CACHE if name == "timestamp.json" else IMMUTABLE, "ETag": etag}
    if etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(data, media_type="application/json", headers=headers)


@router.get(
    "/targets/{path:path}",
    summary="A published DML blob under its consistent-snapshot name <dir>/<sha256>.<name>",
    response_class=Response,
)
def target(path: str, request: Request) -> Response:
    repo: TufRepository = request.app.state.tuf
    store: BlobStore = request.app.state.blobs
    digest = repo.target_digest(path)
    if digest is None:
        raise NotFoundError(f"no published TUF target {path!r}")
    headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{digest}"'}
    local = store.local_path(digest)
    if local is not None and local.is_file():
        return FileResponse(local, media_type="application/octet-stream", headers=headers)
    size = store.size(digest)
    stream = store.open(digest)
    if size is not None:
        headers["Content-Length"] = str(size)
    return StreamingResponse(
        _chunks(stream), media_type="application/octet-stream", headers=headers
    )


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    with stream:
        while chunk := stream.read(CHUNK_BYTES):
            yield chunk


__all__ = ["router"]
