"""One exception hierarchy, mapped once to HTTP (api/app.py) and once to exit codes (cli)."""

from __future__ import annotations

from typing import Any


class GoliveError(Exception):
    """Base of every error golive reports to a user.

    Attributes:
        code: a stable machine-readable name, sent as ``error.code``.
        http_status: the status the API answers with.
        details: optional structured context, sent as ``error.details``.
    """

    code = "error"
    http_status = 500

    def __init__(self, message: str, *, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or {}

    def __str__(self) -> str:
        return self.message


class InvalidInputError(GoliveError):
    """The request is malformed or breaks a rule of the data (bad slug, bad enum, ...)."""

    code = "invalid_input"
    http_status = 422


class PayloadTooLargeError(GoliveError):
    code = "payload_too_large"
    http_status = 413


class AuthenticationError(GoliveError):
    """No credential, or one that is unknown, revoked or expired."""

    code = "unauthenticated"
    http_status = 401


class PermissionDeniedError(GoliveError):
    """The principal is known but none of its roles may do this."""

    code = "forbidden"
    http_status = 403


class NotFoundError(GoliveError, KeyError):
    code = "not_found"
    http_status = 404

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self.message


class ConflictError(GoliveError):
    """The request contradicts what is recorded (duplicate name, object in use, ...)."""

    code = "conflict"
    http_status = 409


class PolicyError(GoliveError):
    """A gate is closed: no authorised change, a freeze window, a supplier's scope."""

    code = "policy"
    http_status = 409


class IntegrityError(GoliveError):
    """A digest, signature or hash chain does not check out."""

    code = "integrity"
    http_status = 409


class SchemaError(GoliveError):
    """The database schema is missing, older or newer than this code."""

    code = "schema"
    http_status = 503
