"""Streaming ingest: hash while writing to a temporary file, never holding the whole body.

Large bodies go through a pipeline of a few page-aligned buffers of BUFFER_BYTES:

- the event loop copies what it receives into the current buffer and, when it is
  full, hands it on and takes a free one (waiting for one is the back-pressure
  that slows the client down);
- a hashing thread runs sha256 over each buffer in one call;
- a writing thread writes each buffer to the file, with O_DIRECT where the file
  system allows it: the disk reads the buffer itself, so there is no copy into
  the page cache and no writeback left for the final fsync. It then frees the
  buffer.

hashlib and file writes release the GIL for a whole buffer at a time, so on two
cores an ingest costs about the slowest of receiving, hashing and writing, not
their sum, and memory stays bounded by the buffers (BUFFERS x BUFFER_BYTES).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import mmap
import os
import queue
import tempfile
import threading
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from golive.errors import PayloadTooLargeError

BUFFER_BYTES = 4 * 1024 * 1024
BUFFERS = 6
# O_DIRECT writes must start, end and sit in memory on this boundary; a page covers
# the logical block size of every common disk, and mmap's buffers start on one.
DIRECT_ALIGN = mmap.PAGESIZE


@dataclass(frozen=True)
class Ingested:
    """A fully received, hashed and fsynced upload waiting to become a blob."""

    path: Path
    digest: str
    size: int


class _Buffer:
    """One page-aligned buffer and how much of it is filled."""

    def __init__(self) -> None:
        self.memory = mmap.mmap(-1, BUFFER_BYTES)
        self.view = memoryview(self.memory)
        self.filled = 0

    def take(self, data: memoryview) -> memoryview:
        """Copy as much of ``data`` as fits; return the rest."""
        taken = min(len(data), BUFFER_BYTES - self.filled)
        self.view[self.filled : self.filled + taken] = data[:taken]
        self.filled += taken
        return data[taken:]

    @property
    def is_full(self) -> bool:
        return self.filled == BUFFER_BYTES

    def release(self) -> None:
        with contextlib.suppress(BufferError):  # a view still held: the collector frees it
            self.view.release()
            self.memory.close()


class _FileWriter:
    """Writes buffers to the upload's file, past the page cache when it can."""

    def __init__(self, fd: int, *, direct: bool) -> None:
        self.fd = fd
        self.direct = direct and _set_direct(fd, on=True)

    def write(self, buffer: _Buffer) -> None:
        whole = buffer.filled - buffer.filled % DIRECT_ALIGN if self.direct else buffer.filled
        self._write_all(buffer.view[:whole])
        if whole < buffer.filled:  # the last, partial block of the upload
            self._stop_direct()
            self._write_all(buffer.view[whole : buffer.filled])

    def _write_all(self, view: memoryview) -> None:
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
            if view and self.direct and written % DIRECT_ALIGN:
                self._stop_direct()  # a short write left the offset unaligned

    def _stop_direct(self) -> None:
        if self.direct:
            _set_direct(self.fd, on=False)
            self.direct = False


def _set_direct(fd: int, *, on: bool) -> bool:
    """Turn O_DIRECT on or off; False when the file system refuses it (tmpfs, some NFS)."""
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, flags | os.O_DIRECT if on else flags & ~os.O_DIRECT)
    except OSError:
        return False
    return True


_END = None


class _Pipeline:
    """Receives an upload into buffers that a hashing and a writing thread drain."""

    def __init__(self, folder: Path, *, direct: bool) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
        self.path = Path(name)
        self.fd = fd
        self.file = _FileWriter(fd, direct=direct)
        self.hash = hashlib.sha256()
        self.size = 0
        self.error: BaseException | None = None
        self.closed = False
        self.buffers = [_Buffer() for _ in range(BUFFERS)]
        self.free: queue.SimpleQueue[_Buffer] = queue.SimpleQueue()
        for buffer in self.buffers[1:]:
            self.free.put(buffer)
        self.current = self.buffers[0]
        self.to_hash: queue.SimpleQueue[_Buffer | None] = queue.SimpleQueue()
        self.to_write: queue.SimpleQueue[_Buffer | None] = queue.SimpleQueue()
        self.threads = [
            threading.Thread(target=self._hashing, name="golive-ingest-hash", daemon=True),
            threading.Thread(target=self._writing, name="golive-ingest-write", daemon=True),
        ]
        for thread in self.threads:
            thread.start()

    def _hashing(self) -> None:
        while (buffer := self.to_hash.get()) is not _END:
            if self.error is None:
                try:
                    self.hash.update(buffer.view[: buffer.filled])
                except BaseException as exc:  # reported to the receiving side
                    self.error = exc
            self.to_write.put(buffer)
        self.to_write.put(_END)

    def _writing(self) -> None:
        while (buffer := self.to_write.get()) is not _END:
            if self.error is None:
                try:
                    self.file.write(buffer)
                except BaseException as exc:  # reported to the receiving side
                    self.error = exc
            buffer.filled = 0
            self.free.put(buffer)

    def _check(self) -> None:
        if self.error is not None:
            raise self.error

    async def feed(self, chunk: bytes) -> None:
        """Copy ``chunk`` into the buffers, handing each full one on."""
        rest = memoryview(chunk)
        while rest:
            rest = self.current.take(rest)
            if self.current.is_full:
                self._check()
                self.to_hash.put(self.current)
                try:
                    self.current = self.free.get_nowait()
                except queue.Empty:  # both threads are behind: wait, and so slow the sender
                    self.current = await asyncio.to_thread(self.free.get)
        self.size += len(chunk)

    def _drain(self) -> None:
        if self.current.filled:
            self.to_hash.put(self.current)
        self.to_hash.put(_END)
        for thread in self.threads:
            thread.join()

    def finish(self) -> Ingested:
        """Wait for the threads, fsync and close the file (runs in a worker thread)."""
        try:
            self._drain()
            self._check()
            os.fsync(self.fd)
        except BaseException:
            self.discard()
            raise
        self.closed = True
        os.close(self.fd)
        self._release()
        return Ingested(self.path, self.hash.hexdigest(), self.size)

    def discard(self) -> None:
        """Stop the threads and remove the partial file (runs in a worker thread)."""
        if self.closed:
            return
        self.closed = True
        if any(thread.is_alive() for thread in self.threads):
            self.error = self.error or RuntimeError("upload discarded")
            self._drain()
        os.close(self.fd)
        self.path.unlink(missing_ok=True)
        self._release()

    def _release(self) -> None:
        for buffer in self.buffers:
            buffer.release()
        self.buffers = []


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


async def ingest_stream(
    chunks: AsyncIterator[bytes], folder: Path, limit: int, *, direct: bool = True
) -> Ingested:
    """Receive ``chunks`` into a temporary file under ``folder``; hash and fsync it.

    Bodies under SMALL_BYTES are written in one step; larger ones go through the
    buffer pipeline as they arrive. ``direct=False`` never tries O_DIRECT.

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
    return await _ingest_large(head, received, stream, folder, limit, direct=direct)


async def _ingest_large(
    head: list[bytes],
    received: int,
    chunks: AsyncIterator[bytes],
    folder: Path,
    limit: int,
    *,
    direct: bool,
) -> Ingested:
    pipeline = await asyncio.to_thread(_Pipeline, folder, direct=direct)
    try:
        for chunk in head:
            await pipeline.feed(chunk)
        async for chunk in chunks:
            received += len(chunk)
            if received > limit:
                raise _too_large(limit)
            await pipeline.feed(chunk)
        return await asyncio.to_thread(pipeline.finish)
    except BaseException:
        await asyncio.to_thread(pipeline.discard)
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
