"""The console's sessions and CSRF tokens: HMAC-signed cookie values, no server-side store.

A session cookie names the API token it was opened with, a random session id and its
expiry, signed with a per-install secret kept in the data folder (``console.key``, mode
0600). Each request checks the signature and the expiry, then the token itself (not
revoked or expired, its principal not disabled), so revoking a token ends its sessions.
A form's CSRF token is an HMAC of the session id: another session's token, or none, does
not match. The sign-in form, before any session exists, is bound the same way to a
random nonce in a short-lived cookie of its own.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from pathlib import Path

from golive.files import write_private

COOKIE = "golive_session"
SIGNIN_COOKIE = "golive_signin"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
SESSION_SECONDS = 8 * 3600
SIGNIN_SECONDS = 15 * 60
KEY_FILE = "console.key"
_VERSION = "v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in browser: the token it signed in with, a session id, when it ends."""

    token_id: int
    sid: str
    expires_at: int  # Unix seconds


class Signer:
    """Signs and checks session cookies and CSRF tokens with one secret key."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 32:
            raise ValueError("the console's signing key must be at least 32 bytes")
        self._key = key

    @classmethod
    def for_home(cls, home: Path) -> Signer:
        """The install's signer, its key created in ``home`` on first use."""
        path = home / KEY_FILE
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            write_private(path, secrets.token_hex(32).encode())
        return cls(bytes.fromhex(path.read_text().strip()))

    def _mac(self, *parts: str) -> str:
        message = "|".join(parts).encode()
        return _b64(hmac.new(self._key, message, hashlib.sha256).digest())

    # --- sessions ---------------------------------------------------------------------

    def open(self, token_id: int, now: float | None = None) -> tuple[ConsoleSession, str]:
        """A new session for ``token_id`` and the cookie value that carries it."""
        moment = int(now if now is not None else time.time())
        session = ConsoleSession(token_id, secrets.token_urlsafe(18), moment + SESSION_SECONDS)
        body = f"{_VERSION}.{session.token_id}.{session.sid}.{session.expires_at}"
        return session, f"{body}.{self._mac('session', body)}"

    def read(self, value: str | None, now: float | None = None) -> ConsoleSession | None:
        """The session a cookie value carries, or None when it is forged, stale or malformed."""
        if not value:
            return None
        parts = value.split(".")
        if len(parts) != 5 or parts[0] != _VERSION:
            return None
        body, mac = ".".join(parts[:4]), parts[4]
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        _version, token_id, sid, expires_at = parts[:4]
        if not (token_id.isdigit() and expires_at.isdigit()):
            return None
        moment = now if now is not None else time.time()
        if int(expires_at) <= moment:
            return None
        return ConsoleSession(int(token_id), sid, int(expires_at))

    # --- CSRF -------------------------------------------------------------------------

    def csrf_for(self, session: ConsoleSession) -> str:
        return self._mac("csrf", session.sid)

    def csrf_matches(self, session: ConsoleSession, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_for(session))

    def signin_nonce(self) -> str:
        return secrets.token_urlsafe(18)

    def signin_csrf(self, nonce: str) -> str:
        return self._mac("signin", nonce)

    def signin_matches(self, nonce: str | None, token: str | None) -> bool:
        if not nonce or not token:
            return False
        return hmac.compare_digest(str(token), self.signin_csrf(nonce))
