"""Shared secrets of integrations, sealed at rest.

HMAC needs the secret itself on both sides, so golive cannot keep only a hash as it does
for API tokens. It stores each secret encrypted (Fernet: AES-128-CBC with an
HMAC-SHA256 tag, from ``cryptography``) under a key kept beside the TUF keys, in
``<home>/keys/integrations.key`` (mode 0600). A copy of the database alone (a backup, a
dump) reveals no secret. The API shows a secret once, when it is made, and never again.
Server replicas and workers share the key as they share the signing keys.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

from golive.errors import IntegrityError

KEY_FILE = "integrations.key"


class SecretBox:
    """Seals and opens integration secrets with one key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def generate(cls) -> SecretBox:
        """A box with a fresh key, held only in memory (tests, tools)."""
        return cls(Fernet.generate_key())

    @classmethod
    def from_keys_dir(cls, keys_dir: Path) -> SecretBox:
        """The box whose key lives in ``keys_dir``; the key is made on first use."""
        return cls(_load_or_create(keys_dir / KEY_FILE))

    def seal(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def open(self, sealed: str) -> str:
        """The secret in ``sealed``.

        Raises:
            IntegrityError: it was sealed under another key or altered.
        """
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            raise IntegrityError(
                f"a stored integration secret cannot be opened with {KEY_FILE}: the key "
                "changed or the record was altered; create the connection or webhook again"
            ) from None


def _load_or_create(path: Path) -> bytes:
    if path.exists():
        return path.read_bytes().strip()
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = Fernet.generate_key()
    temporary = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(key + b"\n")
    try:
        # A link never replaces an existing file: when two processes start at once, the
        # first key wins and the other process reads it.
        os.link(temporary, path)
    except FileExistsError:
        key = path.read_bytes().strip()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
    return key
