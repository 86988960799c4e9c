"""The DML published as a signed TUF repository: keys, metadata files, publishing, re-signing.

Layout of ``metadata_dir`` (consistent snapshots, TUF specification 5.x):

    N.root.json  N.targets.json  N.snapshot.json   versioned, written once, never rewritten
    timestamp.json                                 replaced last and atomically
    .lock                                          flock that serialises every writer

Target files are not copied here: they are the DML's blobs, served under their
consistent-snapshot names ``<dir>/<sha256>.<name>`` by ``media/tuf_api.py``.
Keys live in ``keys_dir`` as PEM files, one per top-level role; the root key is
needed only by ``initialise`` and should then leave the server (docs/tuf-keys.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import re
import tempfile
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import load_pem_private_key

# Both packages re-export these names without __all__, which strict mypy flags; the names
# and their types are the public, documented API.
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]
from tuf.api.metadata import (  # type: ignore[attr-defined]
    Metadata,
    MetaFile,
    Root,
    Signed,
    Snapshot,
    TargetFile,
    Targets,
    Timestamp,
)

from golive.errors import IntegrityError, InvalidInputError, NotFoundError
from golive.media.storage import DIGEST

log = logging.getLogger("golive.tuf")

ROLES = ("root", "targets", "snapshot", "timestamp")
ROOT_EXPIRY = timedelta(days=365)
TARGETS_EXPIRY = timedelta(days=90)
SNAPSHOT_EXPIRY = timedelta(days=7)
TIMESTAMP_EXPIRY = timedelta(days=1)
# Root can only be re-signed offline; warn this long before it expires.
ROOT_WARNING = timedelta(days=30)

_METADATA_NAME = re.compile(r"(?:[1-9][0-9]{0,9}\.(?:root|targets|snapshot)|timestamp)\.json")
# Path-relative URL strings (TUF spec: TARGETPATH) that need no escaping; every segment starts
# with a letter or digit, so "." and ".." never appear.
_TARGET_PATH = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]*(?:/[A-Za-z0-9][A-Za-z0-9._+~-]*)*")


@dataclass(frozen=True)
class PublishedTarget:
    """One DML blob as a TUF target: its size, its sha256 and optional custom data."""

    length: int
    sha256: str
    custom: dict[str, Any] | None = None

    def target_file(self, path: str) -> TargetFile:
        """The TUF ``TargetFile`` for this blob published under ``path``."""
        if _TARGET_PATH.fullmatch(path) is None:
            raise InvalidInputError(
                f"{path!r} is not a valid target path (segments of letters, digits and ._+~- "
                "separated by '/', each starting with a letter or digit)"
            )
        if DIGEST.fullmatch(self.sha256) is None:
            raise InvalidInputError(f"target {path!r}: {self.sha256!r} is not a sha256 digest")
        if self.length < 0:
            raise InvalidInputError(f"target {path!r}: length must not be negative")
        extra = {"custom": self.custom} if self.custom is not None else None
        return TargetFile(self.length, {"sha256": self.sha256}, path, extra)


@dataclass(frozen=True)
class _Chain:
    """The repository's current state, as a client would see it: timestamp → snapshot → targets."""

    timestamp: Metadata[Timestamp]
    snapshot: Metadata[Snapshot]
    targets: Metadata[Targets]


class TufRepository:
    """golive's TUF repository on disk: one writer at a time, any number of readers.

    Readers (``metadata_file``, ``target_digest``) take no lock: every file is written
    atomically and ``timestamp.json``, which names everything else, is replaced last.
    """

    def __init__(
        self,
        metadata_dir: Path,
        keys_dir: Path,
        *,
        root_expiry: timedelta = ROOT_EXPIRY,
        targets_expiry: timedelta = TARGETS_EXPIRY,
        snapshot_expiry: timedelta = SNAPSHOT_EXPIRY,
        timestamp_expiry: timedelta = TIMESTAMP_EXPIRY,
    ) -> None:
        self.metadata_dir = metadata_dir
        self.keys_dir = keys_dir
        self.expiry = {
            Root.type: root_expiry,
            Targets.type: targets_expiry,
            Snapshot.type: snapshot_expiry,
            Timestamp.type: timestamp_expiry,
        }
        self._signers: dict[tuple[str, str], CryptoSigner] = {}
        self._targets_cache: tuple[tuple[int, int, int], dict[str, TargetFile]] | None = None
        self._cache_lock = threading.Lock()

    @classmethod
    def initialise(
        cls,
        metadata_dir: Path,
        keys_dir: Path,
        *,
        root_expiry: timedelta = ROOT_EXPIRY,
        targets_expiry: timedelta = TARGETS_EXPIRY,
        snapshot_expiry: timedelta = SNAPSHOT_EXPIRY,
        timestamp_expiry: timedelta = TIMESTAMP_EXPIRY,
    ) -> TufRepository:
        """Open the repository, creating keys and version 1 of every role when no root exists.

        Idempotent: when ``1.root.json`` exists nothing is generated or written.
        """
        repo = cls(
            metadata_dir,
            keys_dir,
            root_expiry=root_expiry,
            targets_expiry=targets_expiry,
            snapshot_expiry=snapshot_expiry,
            timestamp_expiry=timestamp_expiry,
        )
        with repo._locked():
            if not repo._versioned(Root.type, 1).exists():
                repo._create()
        return repo

    # -- reading (no lock) ----------------------------------------------------------------------

    def metadata_file(self, name: str) -> Path | None:
        """The file to serve for ``name`` (``N.root.json``, ``N.targets.json``,
        ``N.snapshot.json`` or ``timestamp.json``), or None for any other name or a missing file.
        """
        if _METADATA_NAME.fullmatch(name) is None:
            return None
        path = self.metadata_dir / name
        return path if path.is_file() else None

    def target_digest(self, target_path_with_hash_prefix: str) -> str | None:
        """The sha256 of a consistent-snapshot target name (``dir/<sha256>.<name>``) when the
        current targets metadata holds ``dir/<name>`` with exactly that hash; else None.
        """
        dirname, sep, basename = target_path_with_hash_prefix.rpartition("/")
        digest, dot, name = basename.partition(".")
        if not dot or not name or DIGEST.fullmatch(digest) is None:
            return None
        info = self._current_targets().get(f"{dirname}{sep}{name}")
        if info is None or info.hashes.get("sha256") != digest:
            return None
        return digest

    def root_json(self, version: int = 1) -> bytes:
        """The bytes of ``N.root.json``: what a client pins to bootstrap its trust.

        Raises:
            NotFoundError: no root of that version.
        """
        try:
            return self._versioned(Root.type, version).read_bytes()
        except (FileNotFoundError, ValueError):
            raise NotFoundError(f"no TUF root metadata version {version}") from None

    def current_targets(self) -> dict[str, TargetFile]:
        """The targets of the current (timestamp-reachable) targets metadata."""
        return dict(self._current_targets())

    def versions(self) -> dict[str, int]:
        """The current version of each top-level role."""
        chain = self._current()
        return {
            Root.type: self._latest_root().signed.version,
            Targets.type: chain.targets.signed.version,
            Snapshot.type: chain.snapshot.signed.version,
            Timestamp.type: chain.timestamp.signed.version,
        }

    # -- writing (under the lock) ---------------------------------------------------------------

    def publish(self, targets: Mapping[str, PublishedTarget]) -> bool:
        """Make exactly ``targets`` the published set: new targets, snapshot, then timestamp.

        Args:
            targets: TUF target path (``shop/1.2.0/shop-1.2.0.tar.gz``) to its blob.

        Returns:
            False when the set is unchanged (nothing written), True when published.

        Raises:
            InvalidInputError: a bad target path, digest or length.
        """
        wanted = {path: target.target_file(path) for path, target in targets.items()}
        with self._locked():
            chain = self._current()
            if chain.targets.signed.targets == wanted:
                return False
            now = _now()
            new_targets = Targets(
                version=self._next_version(Targets.type, chain.targets.signed.version),
                expires=now + self.expiry[Targets.type],
                targets=wanted,
            )
            self._publish_chain(chain, now, new_targets=new_targets)
            log.info(
                "published %d TUF target(s) as targets version %d",
                len(wanted),
                new_targets.version,
            )
            return True

    def refresh(self, now: datetime | None = None, margin: timedelta | None = None) -> bool:
        """Re-sign (with a new version) the online roles that expire within ``margin``.

        A re-signed targets role brings a new snapshot, and a new snapshot a new timestamp,
        so a client always finds a fresh chain. Root is never re-signed here (its key is
        offline); a warning is logged when it is close to expiry.

        Args:
            now: the reference time (default: the current time).
            margin: how close to expiry a role may get (default: half its lifetime).

        Returns:
            Whether anything was written.
        """
        moment = now if now is not None else _now()

        def due(signed: Signed) -> bool:
            lifetime = self.expiry[signed.type]
            return signed.expires - moment <= (margin if margin is not None else lifetime / 2)

        with self._locked():
            chain = self._current()
            root = self._latest_root().signed
            if root.expires - moment <= min(ROOT_WARNING, self.expiry[Root.type] / 2):
                log.warning(
                    "TUF root version %d expires at %s; re-sign it offline (docs/tuf-keys.md)",
                    root.version,
                    root.expires.isoformat(),
                )
            new_targets: Targets | None = None
            if due(chain.targets.signed):
                current = chain.targets.signed
                new_targets = Targets(
                    version=self._next_version(Targets.type, current.version),
                    expires=moment + self.expiry[Targets.type],
                    targets=current.targets,
                    delegations=current.delegations,
                )
            if new_targets is None and not due(chain.snapshot.signed):
                if not due(chain.timestamp.signed):
                    return False
                self._write_timestamp(chain.timestamp.signed, chain.snapshot.signed.version, moment)
                log.info("re-signed TUF timestamp")
                return True
            self._publish_chain(chain, moment, new_targets=new_targets)
            log.info(
                "re-signed TUF %s",
                "targets, snapshot and timestamp" if new_targets else "snapshot and timestamp",
            )
            return True

    # -- internals ------------------------------------------------------------------------------

    def _create(self) -> None:
        """Generate keys and write version 1 of every role; ``1.root.json`` last, as the mark
        that initialisation finished (a crash before it starts over with fresh keys).
        """
        self.keys_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self.keys_dir, 0o700)
        signers = {role: CryptoSigner.generate_ed25519() for role in ROLES}
        for role, signer in signers.items():
            _write_atomic(self.keys_dir / f"{role}.pem", signer.private_bytes, mode=0o600)
        now = _now()
        root = Root(expires=now + self.expiry[Root.type], consistent_snapshot=True)
        for role, signer in signers.items():
            root.add_key(signer.public_key, role)
        for role in ROLES:
            self._signers[(role, signers[role].public_key.keyid)] = signers[role]

        targets = Targets(version=1, expires=now + self.expiry[Targets.type])
        self._write_versioned(Metadata(targets), signers[Targets.type])
        snapshot = Snapshot(
            version=1,
            expires=now + self.expiry[Snapshot.type],
            meta={"targets.json": MetaFile(version=1)},
        )
        self._write_versioned(Metadata(snapshot), signers[Snapshot.type])
        timestamp = Timestamp(
            version=1,
            expires=now + self.expiry[Timestamp.type],
            snapshot_meta=MetaFile(version=1),
        )
        self._write_metadata(
            Metadata(timestamp), signers[Timestamp.type], self.metadata_dir / "timestamp.json"
        )
        self._write_versioned(Metadata(root), signers[Root.type])
        log.info("created TUF repository in %s (keys in %s)", self.metadata_dir, self.keys_dir)

    def _publish_chain(self, chain: _Chain, now: datetime, *, new_targets: Targets | None) -> None:
        """Write (optionally) targets, then a snapshot naming it, then the timestamp: the order
        that keeps every state a reader can reach consistent.
        """
        targets_version = chain.targets.signed.version
        if new_targets is not None:
            self._write_versioned(Metadata(new_targets), self._signer(Targets.type))
            targets_version = new_targets.version
        snapshot = Snapshot(
            version=self._next_version(Snapshot.type, chain.snapshot.signed.version),
            expires=now + self.expiry[Snapshot.type],
            meta={"targets.json": MetaFile(version=targets_version)},
        )
        self._write_versioned(Metadata(snapshot), self._signer(Snapshot.type))
        self._write_timestamp(chain.timestamp.signed, snapshot.version, now)

    def _write_timestamp(self, current: Timestamp, snapshot_version: int, now: datetime) -> None:
        timestamp = Timestamp(
            version=current.version + 1,
            expires=now + self.expiry[Timestamp.type],
            snapshot_meta=MetaFile(version=snapshot_version),
        )
        self._write_metadata(
            Metadata(timestamp), self._signer(Timestamp.type), self.metadata_dir / "timestamp.json"
        )

    def _write_versioned(self, metadata: Metadata[Any], signer: CryptoSigner) -> None:
        signed = metadata.signed
        self._write_metadata(metadata, signer, self._versioned(signed.type, signed.version))

    def _write_metadata(self, metadata: Metadata[Any], signer: CryptoSigner, path: Path) -> None:
        metadata.sign(signer)
        _write_atomic(path, metadata.to_bytes(), mode=0o644)

    def _versioned(self, role: str, version: int) -> Path:
        if version < 1:
            raise ValueError(f"TUF versions start at 1, not {version}")
        return self.metadata_dir / f"{version}.{role}.json"

    def _next_version(self, role: str, current: int) -> int:
        """The next free version after ``current``: a file left by an interrupted publish was
        never reachable from a timestamp, but it may have been fetched, so it is not rewritten.
        """
        version = current + 1
        while self._versioned(role, version).exists():
            version += 1
        return version

    def _latest_root(self) -> Metadata[Root]:
        version = 1
        while self._versioned(Root.type, version + 1).exists():
            version += 1
        try:
            return Metadata[Root].from_bytes(self._versioned(Root.type, version).read_bytes())
        except FileNotFoundError:
            raise NotFoundError(
                f"the TUF repository in {self.metadata_dir} is not initialised"
            ) from None

    def _current(self) -> _Chain:
        try:
            timestamp_bytes = (self.metadata_dir / "timestamp.json").read_bytes()
        except FileNotFoundError:
            raise NotFoundError(
                f"the TUF repository in {self.metadata_dir} is not initialised"
            ) from None
        timestamp = Metadata[Timestamp].from_bytes(timestamp_bytes)
        snapshot = Metadata[Snapshot].from_bytes(
            self._versioned(Snapshot.type, timestamp.signed.snapshot_meta.version).read_bytes()
        )
        targets_version = snapshot.signed.meta["targets.json"].version
        targets = Metadata[Targets].from_bytes(
            self._versioned(Targets.type, targets_version).read_bytes()
        )
        return _Chain(timestamp, snapshot, targets)

    def _current_targets(self) -> dict[str, TargetFile]:
        """The current targets, re-read only when ``timestamp.json`` was replaced."""
        try:
            with (self.metadata_dir / "timestamp.json").open("rb") as handle:
                stat = os.fstat(handle.fileno())
        except FileNotFoundError:
            return {}
        key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
        with self._cache_lock:
            if self._targets_cache is not None and self._targets_cache[0] == key:
                return self._targets_cache[1]
        # Read outside the cache lock; a replace in between only costs one more reload later.
        targets = self._current().targets.signed.targets
        with self._cache_lock:
            self._targets_cache = (key, targets)
        return targets

    def _signer(self, role: str) -> CryptoSigner:
        """The online signer of ``role``: its PEM in ``keys_dir``, checked against root."""
        root = self._latest_root().signed
        keyid = root.roles[role].keyids[0]
        cached = self._signers.get((role, keyid))
        if cached is not None:
            return cached
        public = root.get_key(keyid)
        pem_path = self.keys_dir / f"{role}.pem"
        try:
            private = load_pem_private_key(pem_path.read_bytes(), password=None)
        except FileNotFoundError:
            raise NotFoundError(f"the TUF {role} key {pem_path} is missing") from None
        if not isinstance(public, SSlibKey):
            raise IntegrityError(f"the TUF {role} key in root is not a local key")
        try:
            signer = CryptoSigner(private, public)
        except Exception as exc:
            raise IntegrityError(
                f"the TUF {role} key {pem_path} does not match root version {root.version}"
            ) from exc
        self._signers[(role, keyid)] = signer
        return signer

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Exclusive among threads and processes: flock on a fresh open file description."""
        self.metadata_dir.mkdir(parents=True, exist_ok=True)
        with (self.metadata_dir / ".lock").open("a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


async def keep_fresh(repo: TufRepository, interval_seconds: float, stop: asyncio.Event) -> None:
    """Call ``repo.refresh()`` every ``interval_seconds`` until ``stop`` is set.

    An error is logged and retried at the next interval; it never ends the loop.
    """
    log.info("re-signing TUF metadata when near expiry, checking every %ss", interval_seconds)
    while not stop.is_set():
        try:
            await asyncio.to_thread(repo.refresh)
        except Exception:
            log.exception("re-signing TUF metadata failed; retrying in %ss", interval_seconds)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
    log.info("stopped re-signing TUF metadata")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _write_atomic(path: Path, data: bytes, *, mode: int) -> None:
    """Write ``data`` to a temporary file, fsync it, set ``mode``, rename it over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as writer:
            writer.write(data)
            writer.flush()
            os.fsync(writer.fileno())
        os.chmod(temporary, mode)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


__all__ = ["PublishedTarget", "TufRepository", "keep_fresh"]
