"""Unpack an artifact into a release folder, refusing every entry that could escape it.

``.tar.gz``/``.tgz``, ``.tar`` and ``.zip`` are unpacked; any other file is copied as is.
Every entry is checked before anything is written, so a refused archive writes nothing:
absolute paths, ``..`` segments, symlinks or hard links pointing outside, and device files
(character, block, FIFO) are refused with a reason naming the entry. Extraction then runs
with tarfile's ``data`` filter and a resolved-path check as a second line of defence.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

from golive.agent.errors import ArchiveRefused

CHUNK_BYTES = 1024 * 1024


def archive_kind(filename: str) -> str:
    """``tar.gz``, ``tar``, ``zip`` or ``file`` (copied as is), from the artifact's name."""
    lowered = filename.lower()
    if lowered.endswith((".tar.gz", ".tgz")):
        return "tar.gz"
    if lowered.endswith(".tar"):
        return "tar"
    if lowered.endswith(".zip"):
        return "zip"
    return "file"


def unpack(
    source: Path, destination: Path, filename: str, after_entry: Callable[[], None] | None = None
) -> None:
    """Unpack ``source`` (named ``filename``) into the existing, empty folder ``destination``.

    Args:
        after_entry: called after each entry is written (the crash point of tests).

    Raises:
        ArchiveRefused: an entry escapes the folder, is a device file, or the archive is
            unreadable.
    """
    kind = archive_kind(filename)
    if kind == "file":
        _copy_single(source, destination / posixpath.basename(filename))
        if after_entry is not None:
            after_entry()
        return
    try:
        if kind == "zip":
            _unpack_zip(source, destination, after_entry)
        else:
            _unpack_tar(source, destination, after_entry)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError) as error:
        raise ArchiveRefused(f"{filename} is not a readable {kind} archive: {error}") from None


def entry_problem(name: str) -> str | None:
    """Why an entry name may not be written (absolute, ``..``, empty), or None."""
    if not name or name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        return "has an absolute path"
    if "\\" in name:
        return "has a backslash in its path"
    if ".." in name.split("/"):
        return "has a '..' segment"
    if "\x00" in name:
        return "has a NUL byte in its path"
    return None


def link_problem(entry: str, target: str, *, hard: bool) -> str | None:
    """Why a link entry may not be written: its target is absolute or resolves outside."""
    kind = "hard link" if hard else "symlink"
    if not target or target.startswith("/"):
        return f"is a {kind} to the absolute path {target!r}"
    # A symlink's target is relative to its own folder; a hard link's to the archive root.
    base = "" if hard else posixpath.dirname(entry)
    resolved = posixpath.normpath(posixpath.join(base, target))
    if resolved == ".." or resolved.startswith("../"):
        return f"is a {kind} pointing outside the release ({target!r})"
    return None


def _refuse(entry: str, problem: str) -> ArchiveRefused:
    return ArchiveRefused(f"refused archive entry {entry!r}: it {problem}")


def _check_tar_member(member: tarfile.TarInfo) -> None:
    problem = entry_problem(member.name)
    if problem is None:
        if member.ischr() or member.isblk():
            problem = "is a device file"
        elif member.isfifo():
            problem = "is a FIFO (special file)"
        elif member.issym():
            problem = link_problem(member.name, member.linkname, hard=False)
        elif member.islnk():
            problem = link_problem(member.name, member.linkname, hard=True)
        elif not (member.isfile() or member.isdir()):
            problem = "is of an unsupported type"
    if problem is not None:
        raise _refuse(member.name, problem)


def _unpack_tar(source: Path, destination: Path, after_entry: Callable[[], None] | None) -> None:
    with tarfile.open(source, mode="r:*") as archive:
        members = archive.getmembers()
        for member in members:
            _check_tar_member(member)
        for member in members:
            _check_parent_inside(destination, member.name)
            try:
                archive.extract(member, destination, filter="data")
            except tarfile.FilterError as error:
                raise _refuse(
                    member.name, f"was refused by the tar data filter ({error})"
                ) from None
            if after_entry is not None:
                after_entry()


def _zip_mode(info: zipfile.ZipInfo) -> int:
    return (info.external_attr >> 16) & 0xFFFF


def _check_zip_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> None:
    name = info.filename
    problem = entry_problem(name.rstrip("/") if info.is_dir() else name)
    mode = _zip_mode(info)
    if problem is None:
        if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
            problem = "is a device file"
        elif stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
            problem = "is a special file"
        elif stat.S_ISLNK(mode):
            target = archive.read(info).decode("utf-8", errors="replace")
            problem = link_problem(name, target, hard=False)
    if problem is not None:
        raise _refuse(name, problem)


def _unpack_zip(source: Path, destination: Path, after_entry: Callable[[], None] | None) -> None:
    with zipfile.ZipFile(source) as archive:
        entries = archive.infolist()
        for info in entries:
            _check_zip_entry(archive, info)
        for info in entries:
            name = info.filename.rstrip("/")
            _check_parent_inside(destination, name)
            path = destination / name
            mode = _zip_mode(info)
            if info.is_dir():
                path.mkdir(parents=True, exist_ok=True)
            elif stat.S_ISLNK(mode):
                path.parent.mkdir(parents=True, exist_ok=True)
                os.symlink(archive.read(info).decode(), path)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                _check_parent_inside(destination, name)
                permissions = 0o755 if mode & 0o111 else 0o644
                flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                try:
                    fd = os.open(path, flags, permissions)
                except FileExistsError:
                    raise _refuse(info.filename, "appears twice in the archive") from None
                with os.fdopen(fd, "wb") as writer, archive.open(info) as reader:
                    shutil.copyfileobj(reader, writer, CHUNK_BYTES)
            if after_entry is not None:
                after_entry()


def _check_parent_inside(destination: Path, name: str) -> None:
    """Refuse an entry whose folder, as it exists on disk now (symlinks resolved), is not
    inside the release: a link written earlier must not carry a later entry outside.
    """
    root = os.path.realpath(destination)
    parent = os.path.realpath(os.path.join(root, posixpath.dirname(name)))
    if parent != root and not parent.startswith(root + os.sep):
        raise _refuse(name, "would be written outside the release through a symlink")


def _copy_single(source: Path, target: Path) -> None:
    if entry_problem(target.name) is not None or target.name in ("", ".", ".."):
        raise _refuse(target.name, "is not a usable file name")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
    fd = os.open(target, flags, 0o644)
    with os.fdopen(fd, "wb") as writer, source.open("rb") as reader:
        shutil.copyfileobj(reader, writer, CHUNK_BYTES)
