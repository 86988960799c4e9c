"""HMAC signatures of the ITSM bridge and of webhooks (pure)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from golive.errors import AuthenticationError
from golive.integrations import signing

SECRET = "glvc_secret"
BODY = b'{"number":"CHG0030001"}'
NOW = 1_800_000_000.0


def _independent(secret: str, timestamp: str, body: bytes) -> str:
    """The signature as a receiver would compute it from docs/itsm.md."""
    return (
        "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, "sha256").hexdigest()
    )


def test_signed_headers_match_the_documented_scheme() -> None:
    headers = signing.signed_headers(SECRET, BODY, now=NOW)
    assert headers[signing.TIMESTAMP_HEADER] == "1800000000"
    assert headers[signing.SIGNATURE_HEADER] == _independent(SECRET, "1800000000", BODY)
    assert (
        len(headers[signing.SIGNATURE_HEADER]) == len("sha256=") + hashlib.sha256().digest_size * 2
    )
    signing.check_signature(SECRET, headers, BODY, now=NOW + 299)


@pytest.mark.parametrize(
    ("headers", "now", "fragment"),
    [
        ({}, NOW, "not signed"),
        ({signing.TIMESTAMP_HEADER: "1800000000"}, NOW, "not signed"),
        ({signing.SIGNATURE_HEADER: "sha256=00"}, NOW, "not signed"),
        (
            {signing.TIMESTAMP_HEADER: "soon", signing.SIGNATURE_HEADER: "sha256=00"},
            NOW,
            "Unix time",
        ),
        (signing.signed_headers(SECRET, BODY, now=NOW), NOW + 301, "replay protection"),
        (signing.signed_headers(SECRET, BODY, now=NOW), NOW - 301, "replay protection"),
        (signing.signed_headers("other", BODY, now=NOW), NOW, "does not match"),
        (
            {
                signing.TIMESTAMP_HEADER: "1800000001",
                signing.SIGNATURE_HEADER: _independent(SECRET, "1800000000", BODY),
            },
            NOW,
            "does not match",
        ),
    ],
)
def test_refusals(headers: dict[str, str], now: float, fragment: str) -> None:
    with pytest.raises(AuthenticationError, match=fragment):
        signing.check_signature(SECRET, headers, BODY, now=now)


def test_base64_is_accepted_inbound() -> None:
    digest = hmac.new(SECRET.encode(), b"1800000000." + BODY, "sha256").digest()
    headers = {
        signing.TIMESTAMP_HEADER: "1800000000",
        signing.SIGNATURE_HEADER: "sha256=" + base64.b64encode(digest).decode(),
    }
    signing.check_signature(SECRET, headers, BODY, now=NOW)


def test_another_body_is_refused() -> None:
    headers = signing.signed_headers(SECRET, BODY, now=NOW)
    with pytest.raises(AuthenticationError, match="does not match"):
        signing.check_signature(SECRET, headers, BODY + b" ", now=NOW)
