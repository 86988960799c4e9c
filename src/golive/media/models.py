"""Media library records: blobs (by digest), versions of components, and their attachments."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from golive.db import Base, UTCDateTime, iso, utcnow
from golive.inventory.models import Component


class VersionStatus(StrEnum):
    QUARANTINED = "quarantined"
    APPROVED = "approved"
    WITHDRAWN = "withdrawn"
    CORRUPT = "corrupt"
    PRUNED = "pruned"


class Blob(Base):
    """Bytes in the store, named by their sha256; shared by every version that has them."""

    __tablename__ = "blobs"

    digest: Mapped[str] = mapped_column(String(64), primary_key=True)
    size: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Version(Base):
    __tablename__ = "versions"
    __table_args__ = (
        UniqueConstraint("component_id", "version", name="uq_versions_component_version"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    component_id: Mapped[int] = mapped_column(
        ForeignKey("components.id", ondelete="RESTRICT"), index=True
    )
    version: Mapped[str] = mapped_column(String(128))
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest", ondelete="RESTRICT"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    notes: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str | None] = mapped_column(String(2048), nullable=True)
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_reason: Mapped[str | None] = mapped_column(Text, nullable=True)
    status_changed_by: Mapped[str | None] = mapped_column(String(128), nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    component: Mapped[Component] = relationship()
    attachments: Mapped[list[Attachment]] = relationship(
        back_populates="version", order_by="Attachment.id"
    )

    @property
    def ref(self) -> str:
        return f"{self.component.name}@{self.version}"

    @property
    def target_path(self) -> str:
        """The TUF target path agents download it by."""
        return f"{self.component.name}/{self.version}/{self.filename}"

    def as_dict(self, with_attachments: bool = True) -> dict[str, Any]:
        shown = version_fields(self.component.name, self)
        if with_attachments:
            shown["attachments"] = [a.as_dict() for a in self.attachments]
        return shown


def version_fields(component: str, version: Any) -> dict[str, Any]:
    """How a version is shown (API, audit), from anything with a Version's columns.

    The ingest's hot path records a version with Core statements and shows it from
    the values it inserted; the ORM object shows itself through the same function.
    """
    return {
        "component": component,
        "version": version.version,
        "digest": version.digest,
        "size": version.size,
        "filename": version.filename,
        "media_type": version.media_type,
        "notes": version.notes,
        "source": version.source,
        "status": version.status,
        "status_reason": version.status_reason,
        "status_changed_by": version.status_changed_by,
        "status_changed_at": iso(version.status_changed_at),
        "added_by": version.added_by,
        "added_at": version.added_at.isoformat(),
        # The TUF target path agents download it by (Version.target_path).
        "tuf_target": f"{component}/{version.version}/{version.filename}",
    }


class Attachment(Base):
    """An SBOM, attestation or other document kept with a version (stored as a blob too)."""

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("versions.id", ondelete="RESTRICT"), index=True
    )
    filename: Mapped[str] = mapped_column(String(255))
    digest: Mapped[str] = mapped_column(ForeignKey("blobs.digest", ondelete="RESTRICT"), index=True)
    size: Mapped[int] = mapped_column(BigInteger)
    media_type: Mapped[str] = mapped_column(String(127))
    added_by: Mapped[str] = mapped_column(String(128))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    version: Mapped[Version] = relationship(back_populates="attachments")

    def as_dict(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "digest": self.digest,
            "size": self.size,
            "media_type": self.media_type,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(),
        }
