"""The archive-safety rule: table-driven over entries, then over real archives."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from golive.deployments.executors.archive import (
    ArchiveEntry,
    ArchiveKind,
    archive_kind,
    check_archive,
    check_entries,
)
from golive.errors import IntegrityError


def file(name: str) -> ArchiveEntry:
    return ArchiveEntry(name, "file")


def folder(name: str) -> ArchiveEntry:
    return ArchiveEntry(name, "dir")


def symlink(name: str, target: str) -> ArchiveEntry:
    return ArchiveEntry(name, "symlink", target)


def hardlink(name: str, target: str) -> ArchiveEntry:
    return ArchiveEntry(name, "hardlink", target)


SAFE = [
    pytest.param([file("app.txt"), folder("bin/"), file("bin/run")], id="plain"),
    pytest.param([folder("./"), file("./app.txt")], id="dot-prefixed"),
    pytest.param([file("lib/libx.so.1"), symlink("lib/libx.so", "libx.so.1")], id="sibling-link"),
    pytest.param([file("lib/a"), symlink("bin/a", "../lib/a")], id="up-and-back-link"),
    pytest.param([symlink("here", ".")], id="link-to-release"),
    pytest.param([file("a"), hardlink("b", "a")], id="hard-link-inside"),
    pytest.param([symlink("x/y/s", "../.."), symlink("t", "x/y/s")], id="link-to-link-inside"),
]


@pytest.mark.parametrize("entries", SAFE)
def test_entries_that_stay_inside_pass(entries: list[ArchiveEntry]) -> None:
    check_entries(entries)


ESCAPING = [
    pytest.param([file("/etc/passwd")], "'/etc/passwd' has an absolute name", id="absolute"),
    pytest.param([file("C:/x")], "'C:/x' has an absolute name", id="drive"),
    pytest.param([file("a\\..\\b")], "has a backslash", id="backslash"),
    pytest.param([file("../x")], "'../x' climbs out with '..'", id="dotdot"),
    pytest.param([file("a/../../x")], "'a/../../x' climbs out", id="inner-dotdot"),
    pytest.param([symlink("etc", "/etc")], "'etc' is a link to '/etc'", id="absolute-link"),
    pytest.param([symlink("up", "../..")], "'up' is a link to '../..'", id="dotdot-link"),
    pytest.param([symlink("a/up", "../../x")], "'a/up' is a link", id="nested-dotdot-link"),
    pytest.param(
        [symlink("x/y/s", "../.."), symlink("t", "x/y/s/..")],
        "'t' is a link to 'x/y/s/..'",
        id="escape-through-another-link",
    ),
    pytest.param([symlink("a", "b"), symlink("b", "a")], "'a' is a link in a loop", id="link-loop"),
    pytest.param(
        [symlink("d", "sub"), file("d/x")],
        "'d/x' is written through the link 'd'",
        id="write-through-link",
    ),
    pytest.param([hardlink("h", "/etc/shadow")], "'h' is a hard link to '/etc/shadow'", id="hard"),
    pytest.param([hardlink("h", "../x")], "'h' is a hard link to '../x'", id="hard-dotdot"),
    pytest.param(
        [symlink("d", "sub"), hardlink("h", "d/x")],
        "'h' is a hard link through the link 'd'",
        id="hard-through-link",
    ),
    pytest.param([ArchiveEntry("dev/sda", "special")], "'dev/sda' is a device", id="device"),
    pytest.param([symlink(".", "x")], "makes the release folder itself a link", id="root-link"),
]


@pytest.mark.parametrize(("entries", "message"), ESCAPING)
def test_entries_that_escape_are_refused_by_name(entries: list[ArchiveEntry], message: str) -> None:
    with pytest.raises(IntegrityError) as raised:
        check_entries(entries)

    assert message in str(raised.value)
    assert repr(raised.value.details["entry"]) in str(raised.value)


@pytest.mark.parametrize(
    ("filename", "kind"),
    [
        ("shop-1.0.tar.gz", ArchiveKind.TAR_GZ),
        ("shop-1.0.TGZ", ArchiveKind.TAR_GZ),
        ("shop-1.0.tar", ArchiveKind.TAR),
        ("docs.zip", ArchiveKind.ZIP),
        ("tool.bin", ArchiveKind.FILE),
        ("notes.gz", ArchiveKind.FILE),
    ],
)
def test_kind_follows_the_file_name(filename: str, kind: ArchiveKind) -> None:
    assert archive_kind(filename) is kind


def _tar(path: Path, mode: str, *members: tarfile.TarInfo) -> Path:
    with tarfile.open(path, mode) as archive:  # type: ignore[call-overload]
        for member in members:
            data = b"x" if member.type == tarfile.REGTYPE else b""
            member.size = len(data)
            archive.addfile(member, io.BytesIO(data) if data else None)
    return path


def _member(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = link
    return info


def test_real_tar_gz_and_tar_archives(tmp_path: Path) -> None:
    good = _tar(
        tmp_path / "a.tar.gz",
        "w:gz",
        _member("bin/run"),
        _member("run", tarfile.SYMTYPE, "bin/run"),
    )
    assert check_archive(good) is ArchiveKind.TAR_GZ

    device = _tar(tmp_path / "b.tar", "w", _member("null", tarfile.CHRTYPE))
    with pytest.raises(IntegrityError, match="'null' is a device file"):
        check_archive(device)

    fifo = _tar(tmp_path / "c.tgz", "w:gz", _member("pipe", tarfile.FIFOTYPE))
    with pytest.raises(IntegrityError, match="'pipe' is a device file, FIFO"):
        check_archive(fifo)

    hard = _tar(tmp_path / "d.tar", "w", _member("h", tarfile.LNKTYPE, "../../etc/passwd"))
    with pytest.raises(IntegrityError, match=r"'h' is a hard link to '\.\./\.\./etc/passwd'"):
        check_archive(hard)


def test_real_zip_archives(tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as archive:
        archive.writestr("site/index.html", "<h1/>")
    assert check_archive(good) is ArchiveKind.ZIP

    slip = tmp_path / "slip.zip"
    with zipfile.ZipFile(slip, "w") as archive:
        archive.writestr("../../evil.sh", "boom")
    with pytest.raises(IntegrityError, match=r"'\.\./\.\./evil\.sh' climbs out"):
        check_archive(slip)

    linked = tmp_path / "linked.zip"
    with zipfile.ZipFile(linked, "w") as archive:
        info = zipfile.ZipInfo("etc")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, "/etc")
    with pytest.raises(IntegrityError, match="'etc' is a link to '/etc'"):
        check_archive(linked)


def test_the_registered_file_name_decides_the_kind(tmp_path: Path) -> None:
    blob = tmp_path / "sha256-abc"  # content-addressed names say nothing
    _tar(blob, "w:gz", _member("/abs"))

    assert check_archive(blob) is ArchiveKind.FILE
    with pytest.raises(IntegrityError, match="'/abs' has an absolute name"):
        check_archive(blob, filename="shop-1.0.tar.gz")


def test_unreadable_archive_is_refused(tmp_path: Path) -> None:
    blob = tmp_path / "broken.tar.gz"
    blob.write_bytes(b"not gzip at all")

    with pytest.raises(IntegrityError, match=r"broken\.tar\.gz is not a readable tar\.gz archive"):
        check_archive(blob)
