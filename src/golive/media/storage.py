"""Where blobs live: one small interface, a local folder (default) and S3-compatible storage.

A blob is named by its sha256 digest and never changes once stored. Writers
hash and fsync into a temporary file first (see ``media/ingest.py``), then
hand the finished file to ``put_file``, which must never overwrite an
existing blob.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from golive.errors import IntegrityError, InvalidInputError, NotFoundError

if TYPE_CHECKING:
    from golive.settings import Settings

DIGEST = re.compile(r"^[0-9a-f]{64}$")


def check_digest(digest: str) -> str:
    if DIGEST.fullmatch(digest) is None:
        raise InvalidInputError(f"{digest!r} is not a sha256 digest (64 lower-case hex digits)")
    return digest


def blob_key(digest: str) -> str:
    """The blob's relative name: ``sha256/<2 hex>/<digest>``."""
    check_digest(digest)
    return f"sha256/{digest[:2]}/{digest}"


class BlobStore(Protocol):
    """What golive needs from a blob backend."""

    def exists(self, digest: str) -> bool:
        """Whether a blob with this digest is stored."""
        ...

    def size(self, digest: str) -> int | None:
        """The stored size in bytes, or None when missing."""
        ...

    def put_file(self, digest: str, source: Path) -> bool:
        """Store a finished, already hashed file under ``digest``; the source is consumed.

        Returns:
            True when stored now, False when the blob already existed (the source is
            then deleted and the stored blob left untouched).
        """
        ...

    def open(self, digest: str) -> BinaryIO:
        """A binary stream of the blob. Raises NotFoundError when missing."""
        ...

    def local_path(self, digest: str) -> Path | None:
        """The blob's file on this machine, when the backend has one (lets servers sendfile)."""
        ...

    def delete(self, digest: str) -> None:
        """Remove a blob (retention only; nothing else deletes)."""
        ...

    def digests(self) -> Iterator[str]:
        """Every stored digest."""
        ...


class LocalBlobStore:
    """Blobs as read-only files under ``root/sha256/<2 hex>/<digest>``."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, digest: str) -> Path:
        return self.root / blob_key(digest)

    def exists(self, digest: str) -> bool:
        return self._path(digest).is_file()

    def size(self, digest: str) -> int | None:
        try:
            return self._path(digest).stat().st_size
        except FileNotFoundError:
            return None

    def put_file(self, digest: str, source: Path) -> bool:
        target = self._path(digest)
        target.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(source, 0o444)
        try:
            # link() refuses to replace an existing name: no code path overwrites a blob.
            os.link(source, target)
        except FileExistsError:
            source.unlink()
            return False
        except OSError:
            # No hard links here (another file system): fall back to an exclusive create.
            return self._copy_exclusive(source, target)
        source.unlink()
        _fsync_dir(target.parent)
        return True

    def _copy_exclusive(self, source: Path, target: Path) -> bool:
        partial = target.with_name(target.name + ".partial")
        with source.open("rb") as reader, partial.open("wb") as writer:
            while chunk := reader.read(1024 * 1024):
                writer.write(chunk)
            writer.flush()
            os.fsync(writer.fileno())
        os.chmod(partial, 0o444)
        try:
            os.link(partial, target)
        except FileExistsError:
            return False
        finally:
            partial.unlink(missing_ok=True)
            source.unlink(missing_ok=True)
        return True

    def open(self, digest: str) -> BinaryIO:
        try:
            return self._path(digest).open("rb")
        except FileNotFoundError:
            raise NotFoundError(f"blob {digest} is missing from the media library") from None

    def local_path(self, digest: str) -> Path | None:
        return self._path(digest)

    def delete(self, digest: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            self._path(digest).unlink()

    def digests(self) -> Iterator[str]:
        base = self.root / "sha256"
        if not base.is_dir():
            return
        for folder in sorted(base.iterdir()):
            for blob in sorted(folder.iterdir()):
                if DIGEST.fullmatch(blob.name):
                    yield blob.name


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_blob_store(settings: Settings) -> BlobStore:
    """The blob store ``settings.blob_backend`` names: ``local`` (default) or ``s3``.

    Raises:
        InvalidInputError: the backend name is unknown, or ``s3`` has no bucket.
    """
    backend = settings.blob_backend
    if backend == "local":
        return LocalBlobStore(settings.blobs_dir)
    if backend == "s3":
        if not settings.s3_bucket:
            raise InvalidInputError("the s3 blob backend needs a bucket: set GOLIVE_S3_BUCKET")
        # Imported here so that boto3 is only loaded by servers that use S3.
        from golive.media.storage_s3 import S3BlobStore

        return S3BlobStore(
            settings.s3_bucket, settings.s3_prefix, settings.s3_endpoint_url, settings.s3_region
        )
    raise InvalidInputError(
        f"unknown blob backend {backend!r}: GOLIVE_BLOB_BACKEND must be 'local' or 's3'"
    )


__all__ = [
    "BlobStore",
    "IntegrityError",
    "LocalBlobStore",
    "blob_key",
    "check_digest",
    "open_blob_store",
]
