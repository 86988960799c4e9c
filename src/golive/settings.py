"""Runtime settings, read once from the environment (and command-line flags)."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from golive.errors import InvalidInputError

DEFAULT_HOME = ".golive"
DEFAULT_MAX_BODY_BYTES = 1024 * 1024
DEFAULT_WEBHOOK_BACKOFF = (5.0, 30.0, 120.0, 600.0, 3600.0)  # 5 s, 30 s, 2 min, 10 min, 1 h


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
        engine: whether the server runs the deployment engine and the SSH executor itself
            (``GOLIVE_ENGINE``, on by default); off when ``golive worker`` processes do it.
        webhook_backoff_seconds: waits between a webhook delivery's failed attempts
            (``GOLIVE_WEBHOOK_BACKOFF``, comma-separated); after the last it is failed.
        ssh_lease_seconds: how long an SSH executor's claim on a running assignment lasts
            unless renewed (``GOLIVE_SSH_LEASE_SECONDS``); after it, another executor
            runs the assignment again.
        trusted_proxies: addresses or networks of reverse proxies whose
            ``X-Forwarded-Proto`` and ``X-Forwarded-For`` the server believes
            (``GOLIVE_TRUSTED_PROXIES``, comma-separated); none by default.
    """

    home: Path = field(default_factory=default_home)
    database_url: str = ""
    log_format: str = "human"
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_upload_bytes: int = 64 * 1024**3
    tuf_refresh_seconds: float = 300.0
    ssh_poll_seconds: float = 2.0
    ssh_lease_seconds: float = 60.0
    deploy_tick_seconds: float = 1.0
    engine: bool = True
    blob_backend: str = "local"
    s3_bucket: str = ""
    s3_prefix: str = ""
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    webhook_poll_seconds: float = 1.0
    webhook_backoff_seconds: tuple[float, ...] = DEFAULT_WEBHOOK_BACKOFF
    webhook_timeout_seconds: float = 10.0
    trusted_proxies: tuple[str, ...] = ()

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
    def from_env(
        cls, home: Path | None = None, log_format: str | None = None, engine: bool | None = None
    ) -> Settings:
        """Settings from ``GOLIVE_*`` variables; explicit arguments win.

        Raises:
            InvalidInputError: ``GOLIVE_ENGINE`` is neither on nor off.
        """
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
            engine=engine if engine is not None else _switch("GOLIVE_ENGINE", default=True),
            webhook_backoff_seconds=_seconds("GOLIVE_WEBHOOK_BACKOFF", DEFAULT_WEBHOOK_BACKOFF),
            trusted_proxies=_networks("GOLIVE_TRUSTED_PROXIES"),
            ssh_lease_seconds=_positive("GOLIVE_SSH_LEASE_SECONDS", 60.0),
        )


def _switch(name: str, *, default: bool) -> bool:
    """An on/off environment variable (on, off, true, false, 1, 0, yes, no)."""
    text = os.environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("on", "true", "1", "yes"):
        return True
    if text in ("off", "false", "0", "no"):
        return False
    raise InvalidInputError(f"{name} must be on or off, not {text!r}")


def _positive(name: str, default: float) -> float:
    """A number of seconds above zero."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        seconds = float(text)
    except ValueError:
        seconds = 0.0
    if not seconds > 0:
        raise InvalidInputError(f"{name} must be a number of seconds above 0, not {text!r}")
    return seconds


def _networks(name: str) -> tuple[str, ...]:
    """A comma-separated list of IP addresses or networks, e.g. ``127.0.0.1,10.0.0.0/8``."""
    found: list[str] = []
    for item in os.environ.get(name, "").split(","):
        if not item.strip():
            continue
        try:
            found.append(str(ipaddress.ip_network(item.strip(), strict=False)))
        except ValueError:
            raise InvalidInputError(
                f"{name} must list IP addresses or networks (e.g. 127.0.0.1,10.0.0.0/8), "
                f"not {item.strip()!r}"
            ) from None
    return tuple(found)


def _seconds(name: str, default: tuple[float, ...]) -> tuple[float, ...]:
    """A comma-separated list of non-negative seconds, e.g. ``5,30,120``."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError:
        values = ()
    if not values or any(value < 0 for value in values):
        raise InvalidInputError(f"{name} must be seconds separated by commas, e.g. 5,30,120")
    return values


def sqlite_url_for(home: Path) -> str:
    return f"sqlite:///{(home / 'golive.db').absolute()}"
