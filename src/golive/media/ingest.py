"""Streaming ingest: hash while writing to a temporary file, never holding the whole body.

The request body is received on the event loop and handed, in buffers of about
4 MiB, to two worker threads through bounded queues: one hashes (sha256), one
writes and periodically flushes to disk. hashlib and file writes release the
GIL, so on two cores the ingest costs about the slowest of receiving, hashing
and writing, not their sum, and memory stays bounded by the queues
(2 x QUEUE_DEPTH buffers).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import queue
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golive.errors import PayloadTooLargeError

BUFFER_BYTES = 4 * 1024 * 1024
QUEUE_DEPTH = 4
# Every this many bytes the writer asks the kernel to start writing back what it has
# (posix_fadvise DONTNEED starts writeback without waiting for it and keeps the page
# cache from filling with the upload), so the final fsync finds little left to do.
WRITEBACK_EVERY_BYTES = 32 * 1024 * 1024
_DONE: list[bytes] = []


@dataclass(frozen=True)
class Ingested:
    """A fully received, hashed and fsynced upload waiting to become a blob."""

    path: Path
    digest: str
    size: int


class _Worker(threading.Thread):
    """Runs ``handle`` on every buffer put in its queue, until the end marker."""

    def __init__(self, name: str, handle: Any) -> None:
        super().__init__(name=name, daemon=True)
        self.queue: queue.Queue[list[bytes]] = queue.Queue(maxsize=QUEUE_DEPTH)
        self.handle = handle
        self.error: BaseException | None = None

    def run(self) -> None:
        while True:
            item = self.queue.get()
            if item is _DONE:
                return
            if self.error is None:
                try:
                    self.handle(item)
                except BaseException as exc:  # reported to the receiving side
                    self.error = exc


class _Sink:
    def __init__(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
        self.path = Path(name)
        self.fd = fd
        self.hash = hashlib.sha256()
        self.size = 0
        self._written = 0
        self._flushed_to = 0
        self.hasher = _Worker("golive-ingest-hash", self._hash)
        self.writer = _Worker("golive-ingest-write", self._write)
        self.hasher.start()
        self.writer.start()

    def _hash(self, chunks: list[bytes]) -> None:
        for chunk in chunks:
            self.hash.update(chunk)

    def _write(self, chunks: list[bytes]) -> None:
        pending = [memoryview(chunk) for chunk in chunks]
        written_total = sum(len(view) for view in pending)
        while pending:
            written = os.writev(self.fd, pending)
            while pending and written >= len(pending[0]):
                written -= len(pending[0])
                pending.pop(0)
            if pending and written:
                pending[0] = pending[0][written:]
        self._written += written_total
        if self._written - self._flushed_to >= WRITEBACK_EVERY_BYTES:
            os.posix_fadvise(
                self.fd, self._flushed_to, self._written - self._flushed_to, os.POSIX_FADV_DONTNEED
            )
            self._flushed_to = self._written

    def _check(self) -> None:
        for worker in (self.hasher, self.writer):
            if worker.error is not None:
                raise worker.error

    async def put(self, chunks: list[bytes]) -> None:
        self._check()
        for worker in (self.hasher, self.writer):
            try:
                worker.queue.put_nowait(chunks)
            except queue.Full:
                await asyncio.to_thread(worker.queue.put, chunks)

    def _stop(self) -> None:
        for worker in (self.hasher, self.writer):
            worker.queue.put(_DONE)
        for worker in (self.hasher, self.writer):
            worker.join()

    def finish(self) -> Ingested:
        self._stop()
        self._check()
        os.fsync(self.fd)
        os.close(self.fd)
        return Ingested(self.path, self.hash.hexdigest(), self.size)

    def discard(self) -> None:
        with contextlib.suppress(Exception):  # the upload is being thrown away anyway
            self._stop()
        with contextlib.suppress(OSError):
            os.close(self.fd)
        self.path.unlink(missing_ok=True)


SMALL_BYTES = 1024 * 1024


def _write_small(folder: Path, chunks: list[bytes]) -> Ingested:
    """Hash, write and fsync a small body in one go (no worker threads needed)."""
    folder.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    try:
        digest = hashlib.sha256()
        for chunk in chunks:
            digest.update(chunk)
            view = memoryview(chunk)
            while view:
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        Path(name).unlink(missing_ok=True)
        raise
    os.close(fd)
    return Ingested(Path(name), digest.hexdigest(), sum(len(chunk) for chunk in chunks))


def _too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        f"the upload is larger than the limit of {limit} bytes", details={"limit": limit}
    )


async def ingest_stream(chunks: AsyncIterator[bytes], folder: Path, limit: int) -> Ingested:
    """Receive ``chunks`` into a temporary file under ``folder``; hash and fsync it.

    Bodies under SMALL_BYTES are written in one step; larger ones go through the
    two-thread pipeline as they arrive.

    Raises:
        PayloadTooLargeError: more than ``limit`` bytes arrived (the file is removed).
    """
    stream = chunks.__aiter__()
    head: list[bytes] = []
    received = 0
    async for chunk in stream:
        head.append(chunk)
        received += len(chunk)
        if received > limit:
            raise _too_large(limit)
        if received >= SMALL_BYTES:
            break
    else:
        return await asyncio.to_thread(_write_small, folder, head)
    return await _ingest_large(head, received, stream, folder, limit)


async def _ingest_large(
    head: list[bytes], received: int, chunks: AsyncIterator[bytes], folder: Path, limit: int
) -> Ingested:
    sink = await asyncio.to_thread(_Sink, folder)
    sink.size = received
    batch: list[bytes] = head
    batched = received
    try:
        async for chunk in chunks:
            if not chunk:
                continue
            sink.size += len(chunk)
            if sink.size > limit:
                raise _too_large(limit)
            batch.append(chunk)
            batched += len(chunk)
            if batched >= BUFFER_BYTES:
                await sink.put(batch)
                batch, batched = [], 0
        if batch:
            await sink.put(batch)
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
