"""Fixtures for the agent's tests: a fake golive server (real HTTP, real TUF), archives,
and ways to run the agent in this process or as a real process.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from golive.agent.agent import Agent, AgentOptions
from tests.agent.fake_server import ENROLL_TOKEN, FakeGolive, serve

REPO_ROOT = Path(__file__).resolve().parents[2]


def tar_gz(files: dict[str, bytes], *, mode: str = "w:gz") -> bytes:
    """A tar archive of regular files (0644, or 0755 for names ending in .sh)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as archive:
        for name, content in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            info.mode = 0o755 if name.endswith(".sh") else 0o644
            archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def zip_bytes(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeGolive]:
    with serve(FakeGolive(tmp_path / "server")) as server:
        yield server


@pytest.fixture
def agent_root(tmp_path: Path) -> Path:
    return tmp_path / "agent"


def run_once(fake: FakeGolive, root: Path, name: str = "web-01") -> int:
    """One cycle of the agent in this process (enrolls on the first call)."""
    options = AgentOptions(
        server=fake.url, root=root, enroll_token=ENROLL_TOKEN, name=name, once=True
    )
    return Agent(options).run()


def agent_process(
    url: str,
    root: Path,
    *extra: str,
    crash_at: str | None = None,
    enroll_token: str | None = ENROLL_TOKEN,
    name: str = "web-01",
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m golive.agent run`` as a real process and wait for it."""
    env = dict(os.environ)
    env.pop("GOLIVE_AGENT_CRASH_AT", None)
    if crash_at is not None:
        env["GOLIVE_AGENT_CRASH_AT"] = crash_at
    command = [sys.executable, "-m", "golive.agent", "run", "--server", url, "--root", str(root)]
    command += ["--name", name, *extra]
    if enroll_token is not None:
        command += ["--enroll-token", enroll_token]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


def current_of(root: Path, component: str) -> str | None:
    link = root / "components" / component / "current"
    return os.readlink(link) if link.is_symlink() else None


def releases_of(root: Path, component: str) -> list[str]:
    folder = root / "components" / component / "releases"
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []
