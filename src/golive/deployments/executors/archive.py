"""Refuse archives whose entries would land outside the release folder (pure rule).

A version's blob is unpacked into ``releases/<version>-<sha8>/`` on the target.
Before a byte is sent, every entry is checked: no absolute names, no ``..``,
no entry written through a symbolic link, no link (symbolic or hard) that
resolves outside the release folder, no device files or FIFOs. The kind of
archive follows the file name the version was registered with.
"""

from __future__ import annotations

import re
import stat
import tarfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Literal

from golive.errors import IntegrityError

# A chain of symbolic links longer than this is refused, as the kernel does (ELOOP).
MAX_LINK_HOPS = 40
# A zip symlink stores its target as the entry's content; anything longer is not a path.
MAX_ZIP_LINK_BYTES = 4096


class ArchiveKind(StrEnum):
    TAR_GZ = "tar.gz"
    TAR = "tar"
    ZIP = "zip"
    FILE = "file"


def archive_kind(filename: str) -> ArchiveKind:
    """The kind of archive a file name announces; anything else is a single file."""
    name = filename.lower()
    if name.endswith((".tar.gz", ".tgz")):
        return ArchiveKind.TAR_GZ
    if name.endswith(".tar"):
        return ArchiveKind.TAR
    if name.endswith(".zip"):
        return ArchiveKind.ZIP
    return ArchiveKind.FILE


@dataclass(frozen=True)
class ArchiveEntry:
    """One entry as the rule sees it; ``link`` is a link's target."""

    name: str
    kind: str  # "file", "dir", "symlink", "hardlink" or "special"
    link: str = ""


def check_archive(path: str | Path, *, filename: str | None = None) -> ArchiveKind:
    """Check that unpacking ``path`` stays inside the folder it is unpacked into.

    Args:
        path: the local file.
        filename: the name that decides the kind (the version's registered file
            name); defaults to the name of ``path``.

    Returns:
        The kind of archive, which says how the target unpacks it.

    Raises:
        IntegrityError: an entry escapes or is a device file, naming the entry;
            or the file is not a readable archive of its kind.
    """
    path = Path(path)
    kind = archive_kind(filename if filename is not None else path.name)
    if kind is ArchiveKind.FILE:
        return kind
    try:
        entries = _zip_entries(path) if kind is ArchiveKind.ZIP else _tar_entries(path, kind)
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as error:
        raise IntegrityError(
            f"{path.name} is not a readable {kind.value} archive: {error}",
            details={"kind": kind.value},
        ) from error
    check_entries(entries)
    return kind


def _tar_entries(path: Path, kind: ArchiveKind) -> list[ArchiveEntry]:
    entries = []
    mode: Literal["r:gz", "r:"] = "r:gz" if kind is ArchiveKind.TAR_GZ else "r:"
    with tarfile.open(path, mode) as archive:
        for member in archive:
            if member.isreg():
                entries.append(ArchiveEntry(member.name, "file"))
            elif member.isdir():
                entries.append(ArchiveEntry(member.name, "dir"))
            elif member.issym():
                entries.append(ArchiveEntry(member.name, "symlink", member.linkname))
            elif member.islnk():
                entries.append(ArchiveEntry(member.name, "hardlink", member.linkname))
            else:
                entries.append(ArchiveEntry(member.name, "special"))
    return entries


def _zip_entries(path: Path) -> list[ArchiveEntry]:
    entries = []
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                if info.file_size > MAX_ZIP_LINK_BYTES:
                    entries.append(ArchiveEntry(info.filename, "special"))
                    continue
                target = archive.read(info).decode("utf-8", errors="replace")
                entries.append(ArchiveEntry(info.filename, "symlink", target))
            elif info.is_dir():
                entries.append(ArchiveEntry(info.filename, "dir"))
            elif stat.S_IFMT(mode) not in (0, stat.S_IFREG, stat.S_IFDIR):
                # No type bits (zip writers often store permissions only) is a plain file.
                entries.append(ArchiveEntry(info.filename, "special"))
            else:
                entries.append(ArchiveEntry(info.filename, "file"))
    return entries


def _refuse(entry: str, why: str) -> IntegrityError:
    return IntegrityError(f"archive entry {entry!r} {why}", details={"entry": entry})


def _parts(name: str) -> list[str]:
    """The components of an entry name relative to the release folder, or raise."""
    if "\x00" in name:
        raise _refuse(name, "has a NUL byte in its name")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _refuse(name, "has an absolute name")
    if "\\" in name:
        # Windows tools and some unzip builds treat a backslash as a separator.
        raise _refuse(name, "has a backslash in its name")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise _refuse(name, "climbs out with '..'")
    return parts


def check_entries(entries: Iterable[ArchiveEntry]) -> None:
    """Refuse the first entry that escapes; see :func:`check_archive`."""
    listed = list(entries)
    symlinks: dict[tuple[str, ...], ArchiveEntry] = {}
    for entry in listed:
        parts = tuple(_parts(entry.name))
        if entry.kind == "special":
            raise _refuse(entry.name, "is a device file, FIFO or other special file")
        if entry.kind == "symlink":
            if not parts:
                raise _refuse(entry.name, "makes the release folder itself a link")
            symlinks[parts] = entry
    for entry in listed:
        parts = tuple(_parts(entry.name))
        # Writing through a link is how an archive reaches outside (CVE-2001-1267 and kin).
        for depth in range(1, len(parts)):
            if parts[:depth] in symlinks:
                raise _refuse(
                    entry.name, f"is written through the link {'/'.join(parts[:depth])!r}"
                )
        if entry.kind == "symlink":
            if entry.link.startswith("/") or not entry.link:
                raise _refuse(entry.name, f"is a link to {entry.link!r}, outside the release")
            _resolve(list(parts[:-1]), entry.link, symlinks, entry.name, hops=0)
        elif entry.kind == "hardlink":
            # A tar hard link names another entry of the same archive, from the top.
            target = tuple(_parts_of_link(entry.name, entry.link))
            for depth in range(1, len(target) + 1):
                if target[:depth] in symlinks:
                    raise _refuse(
                        entry.name, f"is a hard link through the link {'/'.join(target[:depth])!r}"
                    )


def _parts_of_link(entry: str, link: str) -> list[str]:
    try:
        parts = _parts(link)
    except IntegrityError:
        raise _refuse(entry, f"is a hard link to {link!r}, outside the release") from None
    if not parts:
        raise _refuse(entry, f"is a hard link to {link!r}, not a file of the release")
    return parts


def _resolve(
    base: list[str],
    link: str,
    symlinks: Mapping[tuple[str, ...], ArchiveEntry],
    entry: str,
    *,
    hops: int,
) -> list[str]:
    """Follow ``link`` from the folder ``base`` through the archive's own links.

    Returns the resolved components; raises when a step climbs above the
    release folder. Resolving through the archive's links (not just the text)
    matters: ``a/b/s -> ../..`` stays inside, but ``t -> a/b/s/..`` does not.
    """
    if hops > MAX_LINK_HOPS:
        raise _refuse(entry, "is a link in a loop of links")
    if link.startswith("/"):
        raise _refuse(entry, f"is a link to {link!r}, outside the release")
    current = list(base)
    for part in link.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not current:
                raise _refuse(entry, f"is a link to {link!r}, outside the release")
            current.pop()
            continue
        current.append(part)
        found = symlinks.get(tuple(current))
        if found is not None:
            current = _resolve(current[:-1], found.link, symlinks, entry, hops=hops + 1)
    return current
