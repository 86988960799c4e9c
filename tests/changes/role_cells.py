"""Role-matrix cells for change control, for tests/auth/test_role_matrix.py.

Cells are ``(method, path, allowed roles, body, success status)``; ``{s}`` is the acting
role as a slug and ``{chg-…}`` that role's own change in the state its cell needs
(``IDS``, filled by ``setup``), so the cells may run in any order. Changes are raised
by a separate requester so that no cell is refused as a self-approval. Deciding is
allowed to whoever the default change authority admits (change_authority, admin).
The allowed sets are written by hand.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from golive.auth.roles import Role
from golive.auth.service import SYSTEM, Actor
from golive.changes import calendar, service
from golive.changes.rules import Decision
from golive.changes.schemas import AuthorityCreate, ChangeCreate, ModelCreate
from golive.inventory.schemas import ComponentCreate, EnvironmentCreate
from golive.inventory.service import create_component, create_environment

STAFF = frozenset(
    {
        Role.ADMIN,
        Role.DEPLOYMENT_MANAGER,
        Role.DEPLOYER,
        Role.CHANGE_AUTHORITY,
        Role.RELEASE_MANAGER,
        Role.SUPPLIER,
        Role.AUDITOR,
    }
)
REQUESTERS = frozenset(
    {Role.ADMIN, Role.DEPLOYMENT_MANAGER, Role.DEPLOYER, Role.RELEASE_MANAGER, Role.SUPPLIER}
)
DECIDERS = frozenset({Role.ADMIN, Role.CHANGE_AUTHORITY})
CONFIGURERS = DECIDERS
MEASURERS = frozenset({Role.ADMIN, Role.AUDITOR, Role.DEPLOYMENT_MANAGER})

C = "/api/v1/changes"
A = "/api/v1/change-authorities"
M = "/api/v1/change-models"
WINDOW = {"start": "2026-12-05T22:00:00Z", "end": "2026-12-06T02:00:00Z"}
CELLS: list[tuple[str, str, frozenset[Role], dict[str, Any] | None, int]] = [
    ("GET", C, STAFF, None, 200),
    ("POST", C, REQUESTERS, {"title": "t", "environments": ["host"]}, 201),
    ("GET", f"{C}/inbox", STAFF, None, 200),
    ("GET", f"{C}/{{chg-draft}}", STAFF, None, 200),
    ("PATCH", f"{C}/{{chg-draft}}", REQUESTERS, {"title": "edited"}, 200),
    ("POST", f"{C}/{{chg-submit}}/submit", REQUESTERS, None, 200),
    ("POST", f"{C}/{{chg-decide}}/decisions", DECIDERS, {"decision": "approve"}, 200),
    ("POST", f"{C}/{{chg-cancel}}/cancel", REQUESTERS, {"reason": "matrix"}, 200),
    ("POST", f"{C}/{{chg-implement}}/implemented", REQUESTERS, {"outcome": "succeeded"}, 200),
    ("POST", f"{C}/{{chg-review}}/review", DECIDERS, {"reason": "matrix"}, 200),
    ("POST", f"{C}/{{chg-close}}/close", REQUESTERS, {}, 200),
    ("GET", A, STAFF, None, 200),
    (
        "POST",
        A,
        CONFIGURERS,
        {"name": "an-{s}", "environment": "ce-{s}", "change_type": "standard", "roles": ["admin"]},
        201,
    ),
    ("GET", f"{A}/ca-{{s}}", STAFF, None, 200),
    ("PATCH", f"{A}/ca-{{s}}", CONFIGURERS, {"quorum": 2}, 200),
    ("DELETE", f"{A}/cd-{{s}}", CONFIGURERS, None, 204),
    ("GET", M, STAFF, None, 200),
    (
        "POST",
        M,
        CONFIGURERS,
        {"name": "mn-{s}", "environments": ["host"], "components": ["cc-{s}"]},
        201,
    ),
    ("GET", f"{M}/cm-{{s}}", STAFF, None, 200),
    ("PATCH", f"{M}/cm-{{s}}", CONFIGURERS, {"max_targets": 3}, 200),
    ("GET", "/api/v1/windows", STAFF, None, 200),
    (
        "POST",
        "/api/v1/windows",
        CONFIGURERS,
        {"name": "wn-{s}", "kind": "deny", "start": "2027-01-01T00:00:00", "duration": "1h"},
        201,
    ),
    ("GET", "/api/v1/windows/w-{s}", STAFF, None, 200),
    ("DELETE", "/api/v1/windows/wd-{s}", CONFIGURERS, None, 204),
    ("GET", "/api/v1/schedule", STAFF, None, 200),
    ("GET", "/api/v1/schedule.ics", STAFF, None, 200),
    ("GET", "/api/v1/metrics/practice", MEASURERS, None, 200),
]

# Per role slug: placeholder -> that role's change reference.
IDS: dict[str, dict[str, str]] = {}
REQUESTER = Actor("matrix-requester", frozenset({Role.DEPLOYER}))


def _change(session: Session, **extra: Any) -> str:
    spec = ChangeCreate.model_validate(
        {"title": "matrix", "environments": ["host"], "planned_windows": [WINDOW], **extra},
        strict=False,
    )
    return service.create_change(session, REQUESTER, spec).ref


def _authorised(session: Session, **extra: Any) -> str:
    ref = _change(session, submit=True, **extra)
    service.decide(session, SYSTEM, ref, Decision.APPROVE)
    return ref


def setup(session: Session, slug: str) -> None:
    """Changes in every state a cell needs, environment ``ce-``, component ``cc-``,
    authorities ``ca-``/``cd-``, model ``cm-`` and windows ``w-``/``wd-``; needs the
    environment ``host``."""
    create_environment(session, SYSTEM, EnvironmentCreate(name=f"ce-{slug}"))
    create_component(
        session,
        SYSTEM,
        ComponentCreate.model_validate({"name": f"cc-{slug}", "kind": "software"}, strict=False),
    )
    emergency = _authorised(session, type="emergency")
    service.implement_change(session, REQUESTER, emergency, "succeeded")
    to_close = _authorised(session)
    service.implement_change(session, REQUESTER, to_close, "succeeded")
    IDS[slug] = {
        "{chg-draft}": _change(session),
        "{chg-submit}": _change(session),
        "{chg-decide}": _change(session, submit=True),
        "{chg-cancel}": _change(session),
        "{chg-implement}": _authorised(session),
        "{chg-review}": emergency,
        "{chg-close}": to_close,
    }
    for name, change_type in ((f"ca-{slug}", "normal"), (f"cd-{slug}", "emergency")):
        spec = AuthorityCreate.model_validate(
            {
                "name": name,
                "environment": f"ce-{slug}",
                "change_type": change_type,
                "roles": ["change_authority"],
            },
            strict=False,
        )
        service.create_authority(session, SYSTEM, spec)
    service.create_model(
        session,
        SYSTEM,
        ModelCreate(name=f"cm-{slug}", environments=["host"], components=[f"cc-{slug}"]),
    )
    for name in (f"w-{slug}", f"wd-{slug}"):
        definition = {"name": name, "kind": "allow", "start": "2027-01-01T00:00:00", "tz": "UTC"}
        calendar.create_window(session, SYSTEM, {**definition, "duration": "2h"})
