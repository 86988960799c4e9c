"""Durable file operations: atomic writes, fsync of trees, and the test-only crash points."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

# Test-only fault injection: GOLIVE_AGENT_CRASH_AT=download|unpack|switch makes the agent die
# (os._exit(137), as a SIGKILL would) at that instant, so tests can prove a restart converges.
CRASH_ENV = "GOLIVE_AGENT_CRASH_AT"
CRASH_POINTS = ("download", "unpack", "switch")


def crash_point(name: str) -> None:
    """Die here, without cleanup, when GOLIVE_AGENT_CRASH_AT names this instant (tests only)."""
    if os.environ.get(CRASH_ENV) == name:
        os._exit(137)


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write ``data`` to ``path`` so a reader (or a restart) sees the old or the new content:
    a temporary file in the same folder, fsync, ``os.replace``, fsync of the folder.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    fsync_dir(path.parent)


def fsync_tree(root: Path) -> None:
    """fsync every regular file and folder under ``root`` (symlinks are not followed)."""
    for folder, _dirs, names in os.walk(root):
        for name in names:
            path = os.path.join(folder, name)
            if os.path.islink(path) or not os.path.isfile(path):
                continue
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        fsync_dir(Path(folder))


def remove_tree(path: Path) -> None:
    """Delete a folder (or file, or symlink) if present; never follows a symlink."""
    if path.is_symlink() or path.is_file():
        path.unlink()
    elif path.is_dir():
        shutil.rmtree(path)
