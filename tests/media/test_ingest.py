"""The ingest pipeline: every byte reaches the file once, hashed, whatever the chunking."""

from __future__ import annotations

import asyncio
import fcntl
import hashlib
import os
import random
import resource
import signal
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

import pytest

from golive.errors import PayloadTooLargeError
from golive.media import ingest
from golive.media.ingest import BUFFER_BYTES, DIRECT_ALIGN, SMALL_BYTES, ingest_stream

LIMIT = 1 << 40


async def _chunks(parts: Iterable[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part
        await asyncio.sleep(0)


def _split(data: bytes, seed: int) -> list[bytes]:
    """``data`` in chunks of uneven sizes, as a network hands them over (empty ones too)."""
    rng = random.Random(seed)
    parts, at = [], 0
    while at < len(data):
        size = rng.choice([0, 1, 17, 4095, 65536, 262_144, 1_000_003, BUFFER_BYTES + 3])
        parts.append(data[at : at + size])
        at += size
    return parts


def _ingest(
    folder: Path, parts: list[bytes], *, direct: bool, limit: int = LIMIT
) -> ingest.Ingested:
    return asyncio.run(ingest_stream(_chunks(parts), folder, limit, direct=direct))


SIZES = [
    SMALL_BYTES - 1,  # the one-step path
    SMALL_BYTES,
    3 * BUFFER_BYTES,  # whole buffers only
    3 * BUFFER_BYTES + 1,  # one byte past them
    2 * BUFFER_BYTES + DIRECT_ALIGN * 5 + 1234,  # whole blocks, then a partial one
    9 * BUFFER_BYTES + 77,  # more buffers than the pipeline holds
]


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
@pytest.mark.parametrize("size", SIZES)
def test_the_file_holds_exactly_the_bytes_sent_and_their_digest(
    tmp_path: Path, size: int, direct: bool
) -> None:
    data = random.Random(size).randbytes(size)
    done = _ingest(tmp_path, _split(data, seed=size), direct=direct)
    assert done.size == size
    assert done.digest == hashlib.sha256(data).hexdigest()
    assert done.path.parent == tmp_path
    assert done.path.read_bytes() == data


def test_this_file_system_takes_direct_writes(tmp_path: Path) -> None:
    # The ingest benchmark's figures rely on it; a file system that refuses falls back.
    fd = os.open(tmp_path / "probe", os.O_WRONLY | os.O_CREAT)
    try:
        assert ingest._set_direct(fd, on=True)
        assert os.O_DIRECT & fcntl.fcntl(fd, fcntl.F_GETFL)
    finally:
        os.close(fd)


@pytest.mark.parametrize("direct", [True, False], ids=["direct", "page-cache"])
def test_too_large_an_upload_is_refused_and_leaves_no_file(tmp_path: Path, direct: bool) -> None:
    data = bytes(3 * BUFFER_BYTES)
    with pytest.raises(PayloadTooLargeError, match="larger than the limit"):
        _ingest(tmp_path, _split(data, seed=1), direct=direct, limit=2 * BUFFER_BYTES)
    assert list(tmp_path.iterdir()) == []


def test_a_broken_stream_leaves_no_file(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        for _ in range(4):
            yield bytes(BUFFER_BYTES)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        asyncio.run(ingest_stream(broken(), tmp_path, LIMIT))
    assert list(tmp_path.iterdir()) == []


def test_a_failing_disk_write_is_reported_and_leaves_no_file(tmp_path: Path) -> None:
    # The kernel refuses writes past RLIMIT_FSIZE (EFBIG), as a full disk would (ENOSPC).
    previous_signal = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (5 * BUFFER_BYTES, hard))
    try:
        with pytest.raises(OSError, match="too large"):
            _ingest(tmp_path, [bytes(BUFFER_BYTES)] * 12, direct=True)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous_signal)
    assert list(tmp_path.iterdir()) == []
