"""Creating principals, issuing and checking API tokens (the rules; no HTTP)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Row, bindparam, select
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.auth.models import ApiToken, Principal
from golive.auth.roles import Permission, Role, roles_granting
from golive.db import utcnow
from golive.errors import (
    AuthenticationError,
    ConflictError,
    InvalidInputError,
    NotFoundError,
    PermissionDeniedError,
)
from golive.validation import SLUG_RULE, is_slug

TOKEN_PREFIX = "glv_"  # noqa: S105 - a marker, not a secret
SYSTEM_ACTOR = "system"


@dataclass(frozen=True)
class Actor:
    """Who is acting: the authenticated principal behind a request or command."""

    name: str
    roles: frozenset[Role]
    organisation: str | None = None
    token_id: int | None = None

    def require(self, permission: Permission) -> None:
        """Raise PermissionDeniedError naming the roles needed unless a role grants it."""
        allowed = roles_granting(permission)
        if not allowed & self.roles:
            needed = ", ".join(sorted(allowed))
            held = ", ".join(sorted(self.roles)) or "none"
            raise PermissionDeniedError(
                f"{permission.value} needs one of the roles {needed}; {self.name} has {held}.",
                details={"permission": permission.value, "roles_needed": sorted(allowed)},
            )


SYSTEM = Actor(SYSTEM_ACTOR, frozenset({Role.ADMIN}))


def hash_secret(secret: str) -> str:
    # Tokens carry 256 random bits, so a plain sha256 cannot be brute-forced.
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def parse_roles(values: list[str]) -> list[Role]:
    if not values:
        raise InvalidInputError("a principal needs at least one role")
    try:
        return sorted({Role(value) for value in values})
    except ValueError:
        valid = ", ".join(role.value for role in Role)
        bad = [value for value in values if value not in Role.__members__.values()]
        raise InvalidInputError(f"unknown role {bad[0]!r}; roles are: {valid}") from None


def get_principal(session: Session, name: str) -> Principal:
    principal = session.scalars(select(Principal).where(Principal.name == name)).one_or_none()
    if principal is None:
        raise NotFoundError(f"principal {name!r} not found", details={"principal": name})
    return principal


def create_principal(
    session: Session,
    actor: Actor,
    *,
    name: str,
    roles: list[str],
    display_name: str = "",
    organisation: str | None = None,
) -> Principal:
    if not is_slug(name):
        raise InvalidInputError(f"principal name {name!r} must be {SLUG_RULE}")
    parsed = parse_roles(roles)
    if session.scalars(select(Principal.id).where(Principal.name == name)).first() is not None:
        raise ConflictError(f"principal {name!r} already exists")
    principal = Principal(
        name=name,
        display_name=display_name,
        roles=[role.value for role in parsed],
        organisation=organisation,
        disabled=False,
        created_at=utcnow(),
    )
    session.add(principal)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="principal.create",
        subject_type="principal",
        subject_id=name,
        after=principal.as_dict(),
    )
    return principal


def update_principal(
    session: Session,
    actor: Actor,
    name: str,
    *,
    roles: list[str] | None = None,
    display_name: str | None = None,
    organisation: str | None = None,
    disabled: bool | None = None,
) -> Principal:
    principal = get_principal(session, name)
    before = principal.as_dict()
    if roles is not None:
        principal.roles = [role.value for role in parse_roles(roles)]
    if display_name is not None:
        principal.display_name = display_name
    if organisation is not None:
        principal.organisation = organisation or None
    if disabled is not None:
        if disabled and principal.name == actor.name:
            raise ConflictError("you cannot disable yourself; ask another admin")
        principal.disabled = disabled
    audit.record_update(
        session,
        actor=actor.name,
        subject_type="principal",
        subject_id=name,
        before=before,
        after=principal.as_dict(),
    )
    return principal


def issue_token(
    session: Session,
    actor: Actor,
    *,
    principal_name: str,
    name: str = "",
    expires_at: datetime | None = None,
) -> tuple[ApiToken, str]:
    """Create a token for a principal; the secret is returned once and never stored."""
    principal = get_principal(session, principal_name)
    if expires_at is not None and expires_at <= utcnow():
        raise InvalidInputError("a token's expiry must lie in the future")
    secret = new_secret()
    token = ApiToken(
        principal=principal,
        name=name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        secret_hash=hash_secret(secret),
        created_at=utcnow(),
        expires_at=expires_at,
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="token.create",
        subject_type="token",
        subject_id=str(token.id),
        after=token.as_dict(),
    )
    return token, secret


def list_tokens(session: Session, principal_name: str | None = None) -> list[ApiToken]:
    query = select(ApiToken).options(selectinload(ApiToken.principal)).order_by(ApiToken.id)
    if principal_name is not None:
        query = query.where(ApiToken.principal_id == get_principal(session, principal_name).id)
    return list(session.scalars(query))


def revoke_token(
    session: Session, actor: Actor, token_id: int, reason: str | None = None
) -> ApiToken:
    token = session.get(ApiToken, token_id)
    if token is None:
        raise NotFoundError(f"token {token_id} not found", details={"token": token_id})
    if token.revoked_at is not None:
        return token  # revoking twice is a no-op, not an error
    before = token.as_dict()
    token.revoked_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="token.revoke",
        subject_type="token",
        subject_id=str(token.id),
        before={"revoked_at": before["revoked_at"]},
        after={"revoked_at": token.as_dict()["revoked_at"]},
        reason=reason,
    )
    return token


# Built once: every request runs it, and a Core row skips building ORM objects.
_TOKEN_HOLDER = (
    select(
        ApiToken.id,
        ApiToken.revoked_at,
        ApiToken.expires_at,
        Principal.name,
        Principal.roles,
        Principal.organisation,
        Principal.disabled,
    )
    .join(Principal, ApiToken.principal_id == Principal.id)
    .where(ApiToken.secret_hash == bindparam("secret_hash"))
)
_TOKEN_HOLDER_BY_ID = (
    select(*_TOKEN_HOLDER.selected_columns)
    .join(Principal, ApiToken.principal_id == Principal.id)
    .where(ApiToken.id == bindparam("token_id"))
)


def authenticate(reader: Session | Connection, secret: str) -> Actor:
    """The actor a bearer secret stands for, or AuthenticationError saying why not."""
    if not secret.startswith(TOKEN_PREFIX):
        raise AuthenticationError("the token is not a golive API token")
    row = reader.execute(_TOKEN_HOLDER, {"secret_hash": hash_secret(secret)}).one_or_none()
    if row is None:
        raise AuthenticationError("the token is not valid")
    return _holder(row)


def authenticate_token_id(reader: Session | Connection, token_id: int) -> Actor:
    """The actor behind the token with ``token_id``, checked as ``authenticate`` checks a
    secret: the web console's session names the token it was opened with, so revoking
    the token or disabling its principal ends the session too."""
    row = reader.execute(_TOKEN_HOLDER_BY_ID, {"token_id": token_id}).one_or_none()
    if row is None:
        raise AuthenticationError("the token of this session no longer exists")
    return _holder(row)


def _holder(row: Row[*tuple[Any, ...]]) -> Actor:
    if row.revoked_at is not None:
        raise AuthenticationError("the token has been revoked")
    if row.expires_at is not None and row.expires_at <= utcnow():
        raise AuthenticationError("the token has expired; ask an admin for a new one")
    if row.disabled:
        raise AuthenticationError(f"principal {row.name!r} is disabled")
    return Actor(
        name=row.name,
        roles=frozenset(Role(role) for role in row.roles),
        organisation=row.organisation,
        token_id=row.id,
    )


def bootstrap_admin(session: Session) -> str | None:
    """Create the first admin and its token when there is no principal yet.

    Returns:
        The new token's secret, or None when principals already exist.
    """
    if session.scalars(select(Principal.id).limit(1)).first() is not None:
        return None
    create_principal(
        session, SYSTEM, name="admin", roles=[Role.ADMIN.value], display_name="First administrator"
    )
    _, secret = issue_token(session, SYSTEM, principal_name="admin", name="created by golive init")
    return secret
