"""HMAC-SHA256 request signatures, shared by the ITSM bridge (inbound) and webhooks
(outbound). Pure functions: no database, no HTTP.

The signed text is ``<timestamp>.<raw body>``, where the timestamp is Unix seconds sent in
``X-Golive-Timestamp``; the signature travels as ``X-Golive-Signature: sha256=<hex>``
(inbound, ``sha256=<base64>`` is accepted too).
Covering the timestamp lets a receiver refuse old requests (replay protection); the same
scheme as Stripe's and Slack's webhooks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Mapping

from golive.errors import AuthenticationError

TIMESTAMP_HEADER = "X-Golive-Timestamp"
SIGNATURE_HEADER = "X-Golive-Signature"
CONNECTION_HEADER = "X-Golive-Connection"
EVENT_HEADER = "X-Golive-Event"
DELIVERY_HEADER = "X-Golive-Delivery"
SCHEME = "sha256="
# Requests signed longer ago (or further ahead, for skewed clocks) than this are refused.
TOLERANCE_SECONDS = 300


def _digest(secret: str, timestamp: str, body: bytes) -> bytes:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).digest()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 keyed with ``secret`` over ``<timestamp>.<body>``."""
    return SCHEME + _digest(secret, timestamp, body).hex()


def signed_headers(
    secret: str, body: bytes, now: float | None = None, also: tuple[str, ...] = ()
) -> dict[str, str]:
    """The timestamp and signature headers for sending ``body`` now.

    ``also``: secrets that sign too (a webhook's previous secret, during the overlap of a
    rotation). Their signatures follow the first, separated by ", "; a receiver accepts
    the request when any of them checks out with the secret it holds.
    """
    timestamp = str(int(now if now is not None else time.time()))
    signatures = ", ".join(signature(key, timestamp, body) for key in (secret, *also))
    return {TIMESTAMP_HEADER: timestamp, SIGNATURE_HEADER: signatures}


def check_signature(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Raise AuthenticationError unless ``headers`` carry a fresh, valid signature of ``body``.

    ``headers`` must look names up case-insensitively (Starlette's and httpx's do).
    """
    timestamp = headers.get(TIMESTAMP_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if not timestamp or not given:
        raise AuthenticationError(
            f"the request is not signed: send {TIMESTAMP_HEADER} (Unix seconds) and "
            f"{SIGNATURE_HEADER}: sha256=<HMAC-SHA256 of '<timestamp>.<body>'>"
        )
    if not timestamp.isdigit() or len(timestamp) > 12:
        raise AuthenticationError(f"{TIMESTAMP_HEADER} must be Unix time in whole seconds")
    skew = abs((now if now is not None else time.time()) - int(timestamp))
    if skew > tolerance:
        raise AuthenticationError(
            f"the request was signed {int(skew)} s away from now; golive accepts at most "
            f"{tolerance} s (replay protection): sign each request when sending it and keep "
            "the sender's clock in sync",
            details={"skew_seconds": int(skew), "tolerance_seconds": tolerance},
        )
    # Hex, or base64 for tools whose HMAC helpers give that. Constant-time comparisons: a
    # timing difference must not reveal the right digest.
    digest = _digest(secret, timestamp, body)
    sent = given.strip().encode()
    hex_form = (SCHEME + digest.hex()).encode()
    base64_form = SCHEME.encode() + base64.b64encode(digest)
    if not (hmac.compare_digest(sent, hex_form) | hmac.compare_digest(sent, base64_form)):
        raise AuthenticationError(
            "the request's signature does not match its body and timestamp "
            "(check the connection's secret and sign the raw body exactly as sent)"
        )
