"""A 200 MB upload streams through the server without growing its memory by the file's size."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cli.test_local_commands import golive, running

pytestmark = pytest.mark.slow
SIZE = 200 * 1024 * 1024


def _peak_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM in /proc status")


def _body(digest: hashlib._Hash) -> Iterator[bytes]:
    block = bytes(range(256)) * 4096  # 1 MiB, varied bytes
    for index in range(SIZE // len(block)):
        chunk = index.to_bytes(8, "big") + block[8:]
        digest.update(chunk)
        yield chunk


def test_200_mb_upload_keeps_memory_growth_under_50_mb(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert golive("init", "--home", str(home)).returncode == 0
    token = (home / "admin.token").read_text().strip()
    auth = {"Authorization": f"Bearer {token}"}
    with running("server", "--home", str(home)) as (process, url):
        httpx.post(
            f"{url}/api/v1/components", json={"name": "big", "kind": "software"}, headers=auth
        )
        before = _peak_rss_kib(process.pid)
        expected = hashlib.sha256()
        answer = httpx.post(
            f"{url}/api/v1/components/big/versions",
            params={"version": "1"},
            content=_body(expected),
            timeout=300,
            headers={**auth, "Content-Type": "application/octet-stream"},
        )
        after = _peak_rss_kib(process.pid)
    assert answer.status_code == 201, answer.text
    assert answer.json()["digest"] == expected.hexdigest()
    assert answer.json()["size"] == SIZE
    growth_mb = (after - before) / 1024
    assert growth_mb < 50, f"peak resident memory grew by {growth_mb:.1f} MB"
