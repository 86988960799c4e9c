"""Endpoints for principals, tokens and ``/me``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import AwareDatetime

from golive.api.deps import DB, current_actor, require
from golive.auth import service
from golive.auth.roles import Permission
from golive.auth.service import Actor
from golive.inventory.schemas import StrictModel
from golive.validation import FromString, ShortText, Slug

router = APIRouter(prefix="/api/v1", tags=["access"])
Admin = Annotated[Actor, Depends(require(Permission.PRINCIPALS_MANAGE))]
Obj = dict[str, Any]


class PrincipalCreate(StrictModel):
    name: Slug
    roles: list[str]
    display_name: ShortText = ""
    organisation: Slug | None = None


class PrincipalUpdate(StrictModel):
    roles: list[str] | None = None
    display_name: ShortText | None = None
    organisation: Slug | None = None
    disabled: bool | None = None


class TokenCreate(StrictModel):
    principal: Slug
    name: ShortText = ""
    expires_at: Annotated[AwareDatetime, FromString] | None = None


class TokenRevoke(StrictModel):
    reason: ShortText | None = None


@router.get("/me", summary="Who the token belongs to")
def me(actor: Annotated[Actor, Depends(current_actor)]) -> Obj:
    return {
        "name": actor.name,
        "roles": sorted(actor.roles),
        "organisation": actor.organisation,
        "token_id": actor.token_id,
    }


@router.get("/principals", summary="List principals")
def list_principals(db: DB, _actor: Admin) -> Obj:
    from sqlalchemy import select

    from golive.auth.models import Principal

    with db.reading() as session:
        rows = session.scalars(select(Principal).order_by(Principal.name))
        return {"items": [p.as_dict() for p in rows], "next_offset": None}


@router.post("/principals", status_code=201, summary="Create a principal with roles")
def create_principal(spec: PrincipalCreate, db: DB, actor: Admin) -> Obj:
    with db.writing() as session:
        return service.create_principal(
            session,
            actor,
            name=spec.name,
            roles=spec.roles,
            display_name=spec.display_name,
            organisation=spec.organisation,
        ).as_dict()


@router.get("/principals/{name}", summary="Show a principal")
def show_principal(name: str, db: DB, _actor: Admin) -> Obj:
    with db.reading() as session:
        return service.get_principal(session, name).as_dict()


@router.patch("/principals/{name}", summary="Change roles, organisation or disable a principal")
def update_principal(name: str, spec: PrincipalUpdate, db: DB, actor: Admin) -> Obj:
    with db.writing() as session:
        return service.update_principal(
            session,
            actor,
            name,
            roles=spec.roles,
            display_name=spec.display_name,
            organisation=spec.organisation if "organisation" in spec.model_fields_set else None,
            disabled=spec.disabled,
        ).as_dict()


@router.get("/tokens", summary="List API tokens (never their secrets)")
def list_tokens(db: DB, _actor: Admin, principal: str | None = None) -> Obj:
    with db.reading() as session:
        return {
            "items": [t.as_dict() for t in service.list_tokens(session, principal)],
            "next_offset": None,
        }


@router.post("/tokens", status_code=201, summary="Issue a token; its secret is shown only here")
def create_token(spec: TokenCreate, db: DB, actor: Admin) -> Obj:
    expires: datetime | None = spec.expires_at
    with db.writing() as session:
        token, secret = service.issue_token(
            session, actor, principal_name=spec.principal, name=spec.name, expires_at=expires
        )
        return {**token.as_dict(), "token": secret}


@router.post("/tokens/{token_id}/revoke", summary="Revoke a token at once")
def revoke_token(token_id: int, db: DB, actor: Admin, spec: TokenRevoke | None = None) -> Obj:
    with db.writing() as session:
        reason = spec.reason if spec is not None else None
        return service.revoke_token(session, actor, token_id, reason).as_dict()
