"""archive.py: every kind of escaping entry is refused, good archives are unpacked."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from golive.agent.archive import archive_kind, unpack
from golive.agent.errors import ArchiveRefused
from tests.agent.conftest import tar_gz, zip_bytes


def _tar(*members: tarfile.TarInfo, content: bytes = b"x") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for member in members:
            if member.isfile():
                member.size = len(content)
                archive.addfile(member, io.BytesIO(content))
            else:
                archive.addfile(member)
    return buffer.getvalue()


def _member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = 0o644
    return info


def _zip_symlink(name: str, target: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(info, target)
    return buffer.getvalue()


def _zip_device(name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        info = zipfile.ZipInfo(name)
        info.external_attr = (stat.S_IFCHR | 0o644) << 16
        archive.writestr(info, b"")
    return buffer.getvalue()


REFUSED: list[tuple[str, str, Callable[[], bytes], str, str]] = [
    # (case, file name, archive, entry named in the reason, words in the reason)
    ("tar absolute path", "a.tar.gz", lambda: _tar(_member("/etc/evil")), "/etc/evil", "absolute"),
    ("tar dot-dot", "a.tar.gz", lambda: _tar(_member("app/../../evil")), "app/../../evil", "'..'"),
    (
        "tar symlink outside",
        "a.tar.gz",
        lambda: _tar(_member("app/link", tarfile.SYMTYPE, "../../etc")),
        "app/link",
        "symlink pointing outside",
    ),
    (
        "tar absolute symlink",
        "a.tar.gz",
        lambda: _tar(_member("link", tarfile.SYMTYPE, "/etc/passwd")),
        "link",
        "symlink to the absolute path",
    ),
    (
        "tar hard link outside",
        "a.tar.gz",
        lambda: _tar(_member("hard", tarfile.LNKTYPE, "../outside")),
        "hard",
        "hard link pointing outside",
    ),
    (
        "tar absolute hard link",
        "a.tar.gz",
        lambda: _tar(_member("hard", tarfile.LNKTYPE, "/etc/shadow")),
        "hard",
        "hard link to the absolute path",
    ),
    (
        "tar character device",
        "a.tar",
        lambda: _tar(_member("dev/null", tarfile.CHRTYPE)),
        "dev/null",
        "device file",
    ),
    (
        "tar block device",
        "a.tgz",
        lambda: _tar(_member("dev/sda", tarfile.BLKTYPE)),
        "dev/sda",
        "device file",
    ),
    ("tar fifo", "a.tar.gz", lambda: _tar(_member("pipe", tarfile.FIFOTYPE)), "pipe", "FIFO"),
    ("zip dot-dot", "a.zip", lambda: zip_bytes({"../evil": b"x"}), "../evil", "'..'"),
    ("zip absolute", "a.zip", lambda: zip_bytes({"/tmp/evil": b"x"}), "/tmp/evil", "absolute"),
    (
        "zip symlink outside",
        "a.zip",
        lambda: _zip_symlink("app/link", "../../.."),
        "app/link",
        "symlink pointing outside",
    ),
    ("zip device", "a.zip", lambda: _zip_device("dev/tty"), "dev/tty", "device file"),
    ("not an archive", "a.tar.gz", lambda: b"not gzip at all", "", "not a readable"),
]


@pytest.mark.parametrize(
    ("case", "filename", "make", "entry", "words"), REFUSED, ids=[c[0] for c in REFUSED]
)
def test_escaping_entries_are_refused_and_nothing_is_written(
    tmp_path: Path, case: str, filename: str, make: Callable[[], bytes], entry: str, words: str
) -> None:
    source = tmp_path / filename
    source.write_bytes(make())
    destination = tmp_path / "release"
    destination.mkdir()
    with pytest.raises(ArchiveRefused) as refused:
        unpack(source, destination, filename)
    assert entry in refused.value.message
    assert words in refused.value.message
    assert list(destination.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["release", filename])


def test_a_symlink_planted_earlier_cannot_carry_a_later_entry_outside(tmp_path: Path) -> None:
    # "a" is a link to a sibling inside the release, which then is replaced by a link
    # that points outside: the lexical check passes each entry, the resolved check does not.
    outside = tmp_path / "outside"
    outside.mkdir()
    destination = tmp_path / "release"
    destination.mkdir()
    (destination / "sub").symlink_to(outside)
    source = tmp_path / "a.zip"
    source.write_bytes(zip_bytes({"sub/evil": b"x"}))
    with pytest.raises(ArchiveRefused, match="sub/evil"):
        unpack(source, destination, "a.zip")
    assert list(outside.iterdir()) == []


@pytest.mark.parametrize("filename", ["app.tar.gz", "app.tgz", "app.tar", "app.zip"])
def test_good_archives_are_unpacked(tmp_path: Path, filename: str) -> None:
    files = {"bin/run.sh": b"#!/bin/sh\necho hi\n", "etc/app.conf": b"port=80\n"}
    if filename.endswith(".zip"):
        data = zip_bytes(files)
    else:
        data = tar_gz(files, mode="w" if filename.endswith(".tar") else "w:gz")
    source = tmp_path / filename
    source.write_bytes(data)
    destination = tmp_path / "release"
    destination.mkdir()
    entries: list[int] = []
    unpack(source, destination, filename, after_entry=lambda: entries.append(1))
    assert (destination / "etc" / "app.conf").read_bytes() == b"port=80\n"
    assert (destination / "bin" / "run.sh").read_bytes().startswith(b"#!/bin/sh")
    assert len(entries) >= 2


def test_links_inside_the_release_are_kept(tmp_path: Path) -> None:
    source = tmp_path / "a.tar.gz"
    source.write_bytes(
        _tar(
            _member("up", tarfile.SYMTYPE, "."),
            _member("up/through.txt"),
            _member("lib/real.so"),
            _member("lib/alias.so", tarfile.SYMTYPE, "real.so"),
            _member("hard.so", tarfile.LNKTYPE, "lib/real.so"),
        )
    )
    destination = tmp_path / "release"
    destination.mkdir()
    unpack(source, destination, "a.tar.gz")
    assert (destination / "lib" / "alias.so").is_symlink()
    assert (destination / "lib" / "alias.so").read_bytes() == b"x"
    assert (destination / "hard.so").read_bytes() == b"x"
    assert (destination / "through.txt").read_bytes() == b"x"


def test_any_other_file_is_copied_as_is(tmp_path: Path) -> None:
    source = tmp_path / "download"
    source.write_bytes(b"\x7fELF binary")
    destination = tmp_path / "release"
    destination.mkdir()
    unpack(source, destination, "tool-2.0.bin")
    assert (destination / "tool-2.0.bin").read_bytes() == b"\x7fELF binary"


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("a.tar.gz", "tar.gz"),
        ("A.TGZ", "tar.gz"),
        ("a.tar", "tar"),
        ("a.zip", "zip"),
        ("a.gz", "file"),
        ("README.md", "file"),
    ],
)
def test_archive_kind_by_name(name: str, kind: str) -> None:
    assert archive_kind(name) == kind
