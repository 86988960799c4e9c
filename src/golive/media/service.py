"""Media library rules: register write-once versions, approve and withdraw them, verify
their blobs, decide whether one may be deployed, and prune what is no longer needed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.auth.service import Actor
from golive.db import utcnow
from golive.errors import (
    ConflictError,
    IntegrityError,
    InvalidInputError,
    NotFoundError,
    PolicyError,
)
from golive.inventory.models import Component, Environment
from golive.inventory.service import COMPONENT_DELETE_GUARDS, component_id, get_component
from golive.media.ingest import hash_stream
from golive.media.models import Attachment, Blob, Version, VersionStatus, version_fields
from golive.media.storage import BlobStore

VERSION_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,127}$")
FILENAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+~-]{0,254}$")
VERSION_RULE = "letters, digits and . _ + ~ -, 1-128 characters, starting with a letter or digit"
FILENAME_RULE = "a plain file name: letters, digits and . _ + ~ -, starting with a letter or digit"

# Status changes a person may make; verification alone marks a version corrupt,
# and retention alone marks it pruned.
MANUAL_TRANSITIONS: dict[VersionStatus, frozenset[VersionStatus]] = {
    VersionStatus.QUARANTINED: frozenset({VersionStatus.APPROVED, VersionStatus.WITHDRAWN}),
    VersionStatus.APPROVED: frozenset({VersionStatus.WITHDRAWN}),
    VersionStatus.WITHDRAWN: frozenset(),
    VersionStatus.CORRUPT: frozenset(),
    VersionStatus.PRUNED: frozenset(),
}

# Rules that say a version is still needed (installed somewhere, referenced by an
# unfinished deployment, needed for rollback). Later work registers its rules here;
# each returns a sentence saying why, or None.
InUseRule = Callable[[Session, Version], str | None]
IN_USE_RULES: list[InUseRule] = []


def _versions_block_delete(session: Session, component_id: int) -> str | None:
    count = session.scalar(
        select(func.count(Version.id)).where(Version.component_id == component_id)
    )
    if not count:
        return None
    return (
        f"the component has {count} version(s) in the media library, which keeps them "
        "for the record; withdraw them instead of deleting the component"
    )


COMPONENT_DELETE_GUARDS.append(_versions_block_delete)


def check_version_name(version: str) -> str:
    if VERSION_PATTERN.fullmatch(version) is None:
        raise InvalidInputError(f"version {version!r} must be {VERSION_RULE}")
    return version


def check_filename(filename: str) -> str:
    if FILENAME_PATTERN.fullmatch(filename) is None:
        raise InvalidInputError(f"file name {filename!r} must be {FILENAME_RULE}")
    return filename


def find_version(session: Session, component: str, version: str) -> Version | None:
    return session.scalars(
        select(Version)
        .join(Component, Version.component_id == Component.id)
        .options(selectinload(Version.component), selectinload(Version.attachments))
        .where(Component.name == component, Version.version == version)
    ).one_or_none()


def get_version(session: Session, component: str, version: str) -> Version:
    found = find_version(session, component, version)
    if found is None:
        get_component(session, component)  # says which one is unknown
        raise NotFoundError(
            f"version {component}@{version} not found",
            details={"component": component, "version": version},
        )
    return found


def list_versions(
    session: Session, component: str, *, status: str | None = None, limit: int, offset: int
) -> list[Version]:
    owner = get_component(session, component)
    query = (
        select(Version)
        .options(selectinload(Version.component), selectinload(Version.attachments))
        .where(Version.component_id == owner.id)
        .order_by(Version.added_at.desc(), Version.id.desc())
    )
    if status is not None:
        query = query.where(Version.status == status)
    return list(session.scalars(query.limit(limit).offset(offset)))


@dataclass(frozen=True)
class NewVersion:
    component: str
    version: str
    filename: str
    media_type: str
    notes: str
    source: str | None


def _ensure_blob(session: Session, digest: str, size: int) -> None:
    if session.get(Blob, digest) is None:
        session.add(Blob(digest=digest, size=size, created_at=utcnow()))
        session.flush()


_REGISTERED = select(Version.id, Version.digest).where(
    Version.component_id == bindparam("component_id"), Version.version == bindparam("version")
)
_BLOB_KNOWN = select(Blob.digest).where(Blob.digest == bindparam("digest"))
_NEW_BLOB = insert(Blob)


_NEW_VERSION = insert(Version)


def record_version(
    session: Session, actor: Actor, spec: NewVersion, digest: str, size: int
) -> tuple[dict[str, Any], bool]:
    """Record a version whose bytes are already stored under ``digest``; Core statements.

    The ingest's hot path: no ORM objects are built for a new version.

    Returns:
        The version as shown (``Version.as_dict``) and whether it was created now
        (False: the same bytes again).

    Raises:
        NotFoundError: no such component.
        ConflictError: the version exists with other bytes (both digests named).
    """
    connection = session.connection()
    owner = component_id(connection, spec.component)
    registered = connection.execute(
        _REGISTERED, {"component_id": owner, "version": spec.version}
    ).one_or_none()
    if registered is not None:
        if registered.digest != digest:
            raise ConflictError(
                f"{spec.component}@{spec.version} is already registered with sha256 "
                f"{registered.digest}; these bytes have sha256 {digest}. A version never "
                "changes: register the new bytes as a new version.",
                details={"registered": registered.digest, "offered": digest},
            )
        return get_version(session, spec.component, spec.version).as_dict(), False
    now = utcnow()
    if connection.execute(_BLOB_KNOWN, {"digest": digest}).first() is None:
        connection.execute(_NEW_BLOB, {"digest": digest, "size": size, "created_at": now})
    values: dict[str, Any] = {
        "component_id": owner,
        "version": spec.version,
        "digest": digest,
        "size": size,
        "filename": spec.filename,
        "media_type": spec.media_type,
        "notes": spec.notes,
        "source": spec.source,
        "status": VersionStatus.QUARANTINED.value,
        "status_reason": None,
        "status_changed_by": None,
        "status_changed_at": None,
        "added_by": actor.name,
        "added_at": now,
    }
    connection.execute(_NEW_VERSION, values)
    shown = version_fields(spec.component, SimpleNamespace(**values))
    audit.record_many(
        session,
        [
            audit.Entry(
                actor.name,
                "version.add",
                "version",
                f"{spec.component}@{spec.version}",
                after=shown,
            )
        ],
    )
    return {**shown, "attachments": []}, True


def register_version(
    session: Session, actor: Actor, spec: NewVersion, digest: str, size: int
) -> tuple[Version, bool]:
    """``record_version``, returning the Version record (for callers that go on with it)."""
    _, created = record_version(session, actor, spec, digest, size)
    return get_version(session, spec.component, spec.version), created


def add_attachment(
    session: Session,
    actor: Actor,
    component: str,
    version: str,
    filename: str,
    media_type: str,
    digest: str,
    size: int,
) -> Attachment:
    owner = get_version(session, component, version)
    for present in owner.attachments:
        if present.filename == filename:
            if present.digest == digest:
                return present
            raise ConflictError(
                f"{owner.ref} already has an attachment {filename} with sha256 {present.digest}; "
                f"these bytes have sha256 {digest}",
                details={"registered": present.digest, "offered": digest},
            )
    _ensure_blob(session, digest, size)
    attachment = Attachment(
        version=owner,
        filename=filename,
        digest=digest,
        size=size,
        media_type=media_type,
        added_by=actor.name,
        added_at=utcnow(),
    )
    session.add(attachment)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="version.attach",
        subject_type="version",
        subject_id=owner.ref,
        after=attachment.as_dict(),
    )
    return attachment


def change_status(
    session: Session,
    actor: Actor,
    component: str,
    version: str,
    wanted: VersionStatus,
    reason: str | None,
) -> Version:
    """Approve or withdraw a version (the allowed moves are MANUAL_TRANSITIONS)."""
    found = get_version(session, component, version)
    current = VersionStatus(found.status)
    if current == wanted:
        return found
    allowed = MANUAL_TRANSITIONS[current]
    if wanted not in allowed:
        names = ", ".join(sorted(allowed)) or "none"
        raise ConflictError(
            f"{found.ref} is {current.value} and cannot become {wanted.value}; "
            f"allowed next: {names}",
            details={"status": current.value, "allowed": sorted(allowed)},
        )
    if wanted == VersionStatus.WITHDRAWN and not reason:
        raise InvalidInputError("withdrawing a version needs a reason")
    _set_status(session, actor.name, found, wanted, reason)
    return found


def _set_status(
    session: Session, who: str, version: Version, status: VersionStatus, reason: str | None
) -> None:
    before = {"status": version.status}
    version.status = status.value
    version.status_reason = reason
    version.status_changed_by = who
    version.status_changed_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=who,
        action=f"version.{_verb(status)}",
        subject_type="version",
        subject_id=version.ref,
        before=before,
        after={"status": status.value},
        reason=reason,
    )


def _verb(status: VersionStatus) -> str:
    return {
        "approved": "approve",
        "withdrawn": "withdraw",
        "corrupt": "corrupt",
        "pruned": "prune",
    }.get(status.value, status.value)


def deployable_problem(session: Session, version: Version, environment: Environment) -> str | None:
    """Why ``version`` may not be deployed to ``environment``, or None when it may.

    Withdrawn, corrupt and pruned versions never may; quarantined ones only where the
    environment's policy does not demand approved versions.
    """
    status = VersionStatus(version.status)
    if status in (VersionStatus.WITHDRAWN, VersionStatus.CORRUPT, VersionStatus.PRUNED):
        return f"{version.ref} is {status.value} and can never be deployed"
    if status == VersionStatus.QUARANTINED and environment.policy.get(
        "approved_versions_only", True
    ):
        return (
            f"{version.ref} is quarantined and environment {environment.name} deploys "
            "approved versions only; approve it with `golive media approve` first"
        )
    return None


def require_deployable(session: Session, version: Version, environment: Environment) -> None:
    """The gate later deployment work calls: raise PolicyError unless deployable."""
    problem = deployable_problem(session, version, environment)
    if problem is not None:
        raise PolicyError(
            problem, details={"version": version.ref, "environment": environment.name}
        )


def in_use_reasons(session: Session, version: Version) -> list[str]:
    return [reason for rule in IN_USE_RULES if (reason := rule(session, version)) is not None]


def is_in_use(session: Session, version: Version) -> bool:
    """Whether any registered rule still needs the version (installed, referenced, rollback)."""
    return bool(in_use_reasons(session, version))


@dataclass
class VerifyFinding:
    ref: str
    digest: str
    ok: bool
    problem: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.ref, "digest": self.digest, "ok": self.ok, "problem": self.problem}


def versions_to_verify(
    session: Session, component: str | None, version: str | None
) -> list[Version]:
    if component and version:
        return [get_version(session, component, version)]
    query = (
        select(Version)
        .options(selectinload(Version.component))
        .where(Version.status != VersionStatus.PRUNED.value)
        .order_by(Version.id)
    )
    if component:
        query = query.where(Version.component_id == get_component(session, component).id)
    return list(session.scalars(query))


def check_blob(store: BlobStore, digest: str, size: int) -> str | None:
    """Rehash a stored blob; a sentence describing what is wrong, or None."""
    if not store.exists(digest):
        return "its blob is missing from the store"
    with store.open(digest) as stream:
        actual, actual_size = hash_stream(stream)
    if actual != digest:
        return f"its blob now hashes to {actual} ({actual_size} bytes), not {digest}"
    if actual_size != size:
        return f"its blob has {actual_size} bytes, not {size}"
    return None


def check_blob_present(store: BlobStore, digest: str, size: int) -> str | None:
    """A cheap check before approval: the blob exists with the recorded size."""
    stored = store.size(digest)
    if stored is None:
        return "its blob is missing from the store; run `golive media verify`"
    if stored != size:
        return f"its blob has {stored} bytes, not {size}; run `golive media verify`"
    return None


def record_verification(session: Session, actor: Actor, findings: list[VerifyFinding]) -> None:
    """One audit event for a verification run, naming what failed."""
    failed = [f.ref for f in findings if not f.ok]
    audit.record(
        session,
        actor=actor.name,
        action="media.verify",
        subject_type="media",
        subject_id="library",
        after={"checked": len(findings), "corrupt": failed},
    )


def mark_corrupt(session: Session, version_id: int, problem: str) -> Version:
    version = session.get(Version, version_id)
    if version is None:
        raise NotFoundError(f"version {version_id} vanished during verification")
    if version.status != VersionStatus.CORRUPT.value:
        _set_status(session, "system:verify", version, VersionStatus.CORRUPT, problem)
    return version


@dataclass
class PrunePlan:
    remove: list[Version]
    kept_in_use: dict[str, list[str]]


def plan_prune(session: Session, keep: int, component: str | None = None) -> PrunePlan:
    """Which versions retention removes: all but the newest ``keep`` of each component,
    never one that a rule still needs."""
    if keep < 1:
        raise InvalidInputError("--keep must be at least 1")
    query = (
        select(Version)
        .options(selectinload(Version.component))
        .where(Version.status != VersionStatus.PRUNED.value)
        .order_by(Version.component_id, Version.added_at.desc(), Version.id.desc())
    )
    if component:
        query = query.where(Version.component_id == get_component(session, component).id)
    remove: list[Version] = []
    kept: dict[str, list[str]] = {}
    seen: dict[int, int] = {}
    for version in session.scalars(query):
        seen[version.component_id] = seen.get(version.component_id, 0) + 1
        if seen[version.component_id] <= keep:
            continue
        reasons = in_use_reasons(session, version)
        if reasons:
            kept[version.ref] = reasons
        else:
            remove.append(version)
    return PrunePlan(remove, kept)


def prune(session: Session, actor: Actor, plan: PrunePlan) -> list[str]:
    """Mark the plan's versions pruned and return the digests no record uses any more."""
    candidates: set[str] = set()
    for version in plan.remove:
        before = {"status": version.status}
        version.status = VersionStatus.PRUNED.value
        version.status_changed_by = actor.name
        version.status_changed_at = utcnow()
        version.status_reason = "removed by retention"
        candidates.add(version.digest)
        candidates.update(a.digest for a in version.attachments)
        session.flush()
        audit.record(
            session,
            actor=actor.name,
            action="version.prune",
            subject_type="version",
            subject_id=version.ref,
            before=before,
            after={"status": "pruned"},
        )
    return [digest for digest in sorted(candidates) if not blob_still_used(session, digest)]


def blob_still_used(session: Session, digest: str) -> bool:
    live_versions = session.scalar(
        select(func.count(Version.id)).where(
            Version.digest == digest, Version.status != VersionStatus.PRUNED.value
        )
    )
    attachments = session.scalar(
        select(func.count(Attachment.id))
        .join(Version, Attachment.version_id == Version.id)
        .where(Attachment.digest == digest, Version.status != VersionStatus.PRUNED.value)
    )
    return bool(live_versions or attachments)


def approved_targets(session: Session) -> Iterator[Version]:
    """Every approved version: what the TUF repository publishes."""
    yield from session.scalars(
        select(Version)
        .options(selectinload(Version.component))
        .where(Version.status == VersionStatus.APPROVED.value)
        .order_by(Version.id)
    )


__all__ = ["IntegrityError"]
