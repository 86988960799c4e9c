"""Role-matrix cells for deployments, for tests/auth/test_role_matrix.py.

Cells are ``(method, path, allowed roles, body, success status)``; ``{s}`` is the acting
role as a slug and ``{dep}`` that role's own deployment (``IDS``, filled by ``setup``): a
phased deployment with confirm_waves, so each allowed decision succeeds in the order the
cells run (confirm, pause, resume, abort, rollback). The allowed sets are written by hand.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from golive.auth.roles import Role
from golive.auth.service import SYSTEM
from golive.deployments import service, strategies
from golive.inventory.schemas import ComponentCreate, TargetCreate
from golive.inventory.service import create_component, create_target
from golive.media.models import VersionStatus
from golive.media.service import NewVersion, change_status, register_version

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
RUNNERS = frozenset({Role.ADMIN, Role.DEPLOYMENT_MANAGER, Role.DEPLOYER})
CONFIRMERS = frozenset({Role.ADMIN, Role.DEPLOYMENT_MANAGER})

D = "/api/v1/deployments"
CELLS = [
    (
        "POST",
        D,
        RUNNERS,
        {"versions": ["dc-{s}@1"], "environment": "host", "targets": {"labels": {"matrix": "{s}"}}},
        201,
    ),
    ("GET", D, STAFF, None, 200),
    ("GET", D + "/{dep}", STAFF, None, 200),
    ("POST", D + "/{dep}/confirm", CONFIRMERS, {}, 200),
    ("POST", D + "/{dep}/pause", RUNNERS, {}, 200),
    ("POST", D + "/{dep}/resume", RUNNERS, {}, 200),
    ("POST", D + "/{dep}/retry", RUNNERS, None, 409),
    ("POST", D + "/{dep}/abort", RUNNERS, {"reason": "matrix"}, 200),
    ("POST", D + "/{dep2}/rollback", RUNNERS, {}, 200),
    ("GET", "/api/v1/targets/dt-{s}/history", STAFF, None, 200),
    ("GET", "/api/v1/components/dc-{s}/where", STAFF, None, 200),
]

IDS: dict[str, dict[str, str]] = {}


def setup(session: Session, slug: str) -> None:
    for name in ("dt", "dt2", "dt3", "dt4"):
        labels = {"matrix": slug} if name == "dt3" else {}
        create_target(
            session,
            SYSTEM,
            TargetCreate(name=f"{name}-{slug}", environment="host", labels=labels),
        )
    component = f"dc-{slug}"
    create_component(
        session,
        SYSTEM,
        ComponentCreate.model_validate({"name": component, "kind": "software"}, strict=False),
    )
    register_version(
        session,
        SYSTEM,
        NewVersion(component, "1", "app.tar.gz", "application/gzip", "", None),
        "d" * 64,
        10,
    )
    change_status(session, SYSTEM, component, "1", VersionStatus.APPROVED, None)
    ids = {}
    for key, names in (("{dep}", [f"dt-{slug}", f"dt2-{slug}"]), ("{dep2}", [f"dt4-{slug}"])):
        created = service.create_deployment(
            session,
            SYSTEM,
            refs=[(component, "1")],
            environment="host",
            names=names,
            params=strategies.parse_params("phased", waves="1", confirm_waves=True),
        )
        ids[key] = str(created.id)
    IDS[slug] = ids
