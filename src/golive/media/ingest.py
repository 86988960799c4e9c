"""Streaming ingest: hash while writing to a temporary file, never holding the whole body.

Hashing and writing run in two worker threads fed the same buffers, so on a
machine with two cores the ingest costs about the slower of the two, not their
sum (hashlib and file writes both release the GIL).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from golive.errors import PayloadTooLargeError

BUFFER_BYTES = 4 * 1024 * 1024
_POOL = ThreadPoolExecutor(max_workers=4, thread_name_prefix="golive-ingest")


@dataclass(frozen=True)
class Ingested:
    """A fully received, hashed and fsynced upload waiting to become a blob."""

    path: Path
    digest: str
    size: int


class _Sink:
    def __init__(self, folder: Path, limit: int) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
        self.path = Path(name)
        self.file = os.fdopen(fd, "wb", buffering=0)
        self.hash = hashlib.sha256()
        self.size = 0
        self.limit = limit
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()

    def submit(self, buffer: bytes) -> None:
        self.size += len(buffer)
        if self.size > self.limit:
            raise PayloadTooLargeError(
                f"the upload is larger than the limit of {self.limit} bytes",
                details={"limit": self.limit},
            )
        self._wait()
        # Both workers read the same immutable bytes; each keeps its own order
        # because the next pair is submitted only after this pair finishes.
        self._pending = [_POOL.submit(self.hash.update, buffer), _POOL.submit(self._write, buffer)]

    def _write(self, buffer: bytes) -> None:
        view = memoryview(buffer)
        while view:
            written = self.file.write(view)
            view = view[written or 0 :]

    def _wait(self) -> None:
        for future in self._pending:
            future.result()
        self._pending = []

    def finish(self) -> Ingested:
        self._wait()
        self.file.flush()
        os.fsync(self.file.fileno())
        self.file.close()
        return Ingested(self.path, self.hash.hexdigest(), self.size)

    def discard(self) -> None:
        for future in self._pending:
            future.cancel()
        with contextlib.suppress(Exception):  # the upload is being thrown away anyway
            self._wait()
        self.file.close()
        self.path.unlink(missing_ok=True)


async def ingest_stream(chunks: AsyncIterator[bytes], folder: Path, limit: int) -> Ingested:
    """Receive ``chunks`` into a temporary file under ``folder``; hash and fsync it.

    Raises:
        PayloadTooLargeError: more than ``limit`` bytes arrived (the file is removed).
    """
    import asyncio

    sink = _Sink(folder, limit)
    buffer = bytearray()
    try:
        async for chunk in chunks:
            buffer += chunk
            if len(buffer) >= BUFFER_BYTES:
                data = bytes(buffer)
                buffer.clear()
                await asyncio.to_thread(sink.submit, data)
        if buffer:
            await asyncio.to_thread(sink.submit, bytes(buffer))
        return await asyncio.to_thread(sink.finish)
    except BaseException:
        await asyncio.to_thread(sink.discard)
        raise


def hash_stream(read: object, chunk: int = 1024 * 1024) -> tuple[str, int]:
    """sha256 and size of a readable binary stream (for verification)."""
    reader = getattr(read, "read")  # noqa: B009 - any object with read(n)
    digest = hashlib.sha256()
    size = 0
    while data := reader(chunk):
        digest.update(data)
        size += len(data)
    return digest.hexdigest(), size
