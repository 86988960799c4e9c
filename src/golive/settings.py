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

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", sqlite_url_for(self.home))

    @property
    def admin_token_path(self) -> Path:
        return self.home / "admin.token"

    @classmethod
    def from_env(cls, home: Path | None = None, log_format: str | None = None) -> Settings:
        """Settings from ``GOLIVE_*`` variables; explicit arguments win."""
        resolved_home = home if home is not None else default_home()
        return cls(
            home=resolved_home,
            database_url=os.environ.get("GOLIVE_DATABASE_URL", ""),
            log_format=log_format or os.environ.get("GOLIVE_LOG_FORMAT", "human"),
            max_body_bytes=int(os.environ.get("GOLIVE_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES)),
        )


def sqlite_url_for(home: Path) -> str:
    return f"sqlite:///{(home / 'golive.db').absolute()}"
