"""Role-matrix cells for the agent endpoints, for tests/auth/test_role_matrix.py.

``CELLS`` are the endpoints that take golive API tokens, as ``(method, path, allowed
roles, body, success status)``; ``{s}`` is the acting role as a slug. ``AGENT_CELLS``
are the agent's own endpoints, which take an enrollment token or an agent credential:
every golive API token, whatever its role, is refused there with 401. ``setup``
creates, per role, the objects the cells act on. The allowed sets are written out by
hand: they are the specification, not a copy of golive's grant table.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sqlalchemy.orm import Session

from golive.agents import service
from golive.agents.schemas import EnrollmentTokenCreate
from golive.auth.roles import Role
from golive.auth.service import SYSTEM
from golive.inventory.schemas import ComponentCreate, EnvironmentCreate, TargetCreate
from golive.inventory.service import create_component, create_environment, create_target
from golive.media.service import NewVersion, register_version

ALL = frozenset(Role)
READERS = frozenset(
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
WRITERS = frozenset({Role.ADMIN, Role.DEPLOYMENT_MANAGER})

Cell = tuple[str, str, frozenset[Role], dict[str, Any] | None, int]

# setup runs for the roles in Role order on an empty database, so the first role's
# enrollment token and assignment have id 1, which the matrix fills in for ``{v}``.
# Revoking twice is a no-op, so every allowed role may revoke the same token.
CELLS: list[Cell] = [
    (
        "POST",
        "/api/v1/agent/enrollment-tokens",
        WRITERS,
        {"environment": "ae-{s}", "labels": {"role": "web"}},
        201,
    ),
    ("POST", "/api/v1/agent/enrollment-tokens/{v}/revoke", WRITERS, None, 200),
    ("POST", "/api/v1/targets/at-{s}/revoke-agent", WRITERS, None, 200),
    ("GET", "/api/v1/targets/at-{s}/installed", READERS, None, 200),
    ("GET", "/api/v1/assignments?target=at-{s}&state=pending", READERS, None, 200),
    ("GET", "/api/v1/assignments/{v}", READERS, None, 200),
]

AGENT_CELLS: list[Cell] = [
    (
        "POST",
        "/api/v1/agent/register",
        ALL,
        {"name": "ag-{s}", "public_key": "-----BEGIN PUBLIC KEY-----", "facts": {}},
        401,
    ),
    ("GET", "/api/v1/agent/desired", ALL, None, 401),
    ("POST", "/api/v1/agent/report", ALL, {"assignment_id": 1, "state": "downloading"}, 401),
    ("POST", "/api/v1/agent/inventory", ALL, {"installed": [], "unauthorised": []}, 401),
    ("POST", "/api/v1/agent/reports", ALL, {"reports": []}, 401),
]


def setup(session: Session, slug: str) -> None:
    """Objects for one role's cells.

    Environment ``ae-{slug}`` (quarantined versions allowed), target ``at-{slug}`` in it,
    an enrollment token, and version 1 of component ``ac-{slug}`` assigned to the target.
    """
    create_environment(
        session,
        SYSTEM,
        EnvironmentCreate.model_validate(
            {"name": f"ae-{slug}", "policy": {"approved_versions_only": False}}
        ),
    )
    target = create_target(
        session, SYSTEM, TargetCreate(name=f"at-{slug}", environment=f"ae-{slug}")
    )
    service.create_enrollment_token(
        session, SYSTEM, EnrollmentTokenCreate(environment=f"ae-{slug}")
    )
    create_component(
        session,
        SYSTEM,
        ComponentCreate.model_validate({"name": f"ac-{slug}", "kind": "software"}, strict=False),
    )
    version, _ = register_version(
        session,
        SYSTEM,
        NewVersion(f"ac-{slug}", "1", f"ac-{slug}-1", "application/octet-stream", "", None),
        hashlib.sha256(slug.encode()).hexdigest(),
        len(slug),
    )
    service.create_assignment(session, SYSTEM, target=target, version=version)
