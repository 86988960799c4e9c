"""Runtime settings, read once from the environment (and command-line flags)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_HOME = ".golive"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024


def default_home() -> Path:
    """``$GOLIVE_HOME`` when set, else ``./.golive``."""
    return Path(os.environ.get("GOLIVE_HOME") or DEFAULT_HOME)


@dataclass(frozen=True)
class Settings:
    """What a golive server process needs to know.

    Attributes:
        home: the data folder (SQLite database, admin token, later media blobs).
        database_url: SQLAlchemy URL; SQLite in ``home`` unless ``GOLIVE_DATABASE_URL``.
        log_format: ``human`` or ``json``.
        max_body_bytes: the largest JSON request body the API accepts.
    """

    home: Path = field(default_factory=default_home)
    database_url: str = ""
    log_format: str = "human"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = 64 * 1024**3
    tuf_refresh_seconds: float = 300.0
    ssh_poll_seconds: float = 2.0
    deploy_tick_seconds: float = 1.0
    blob_backend: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", sqlite_url_for(self.home))

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin.token"

    @property
    def blobs_dir(self) -> Path:
        return self.home / "blobs"

    @property
    def uploads_dir(self) -> Path:
        """Temporary files of uploads in progress (same file system as ``blobs_dir``)."""
        return self.home / "uploads"

    @property
    def tuf_dir(self) -> Path:
        return self.home / "tuf"

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def work_dir(self) -> Path:
        """Scratch space of executors (blobs materialised for SSH uploads)."""
        return self.home / "work"

    @classmethod
    def from_env(cls, home: Path | None = None, log_format: str | None = None) -> Settings:
        """Settings from ``GOLIVE_*`` variables; explicit arguments win."""
        resolved_home = home if home is not None else default_home()
        return cls(
            home=resolved_home,
            database_url=os.environ.get("GOLIVE_DATABASE_URL", ""),
            log_format=log_format or os.environ.get("GOLIVE_LOG_FORMAT", "human"),
            max_body_bytes=int(os.environ.get("GOLIVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
            max_upload_bytes=int(os.environ.get("GOLIVE_MAX_UPLOAD_BYTES", 64 * 1024**3)),
            blob_backend=os.environ.get("GOLIVE_BLOB_BACKEND", "local"),
            s3_bucket=os.environ.get("GOLIVE_S3_BUCKET", ""),
            s3_prefix=os.environ.get("GOLIVE_S3_PREFIX", ""),
            s3_endpoint_url=os.environ.get("GOLIVE_S3_ENDPOINT_URL") or None,
            s3_region=os.environ.get("GOLIVE_S3_REGION") or None,
        )


def sqlite_url_for(home: Path) -> str:
    return f"sqlite:///{(home / 'golive.db').absolute()}"
