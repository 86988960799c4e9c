"""Role-matrix cells for work orders and SSH settings, for tests/auth/test_role_matrix.py.

Cells are ``(method, path, allowed roles, body, success status)``; ``{s}`` is the acting
role as a slug, ``{wo}`` and ``{wo2}`` that role's own work orders (``IDS``, filled
by ``setup``). Each role's work orders are assigned to that role, so a role that may
read work orders may also close its own. The allowed sets are written out by hand.
"""

from __future__ import annotations

import asyncssh
from sqlalchemy.orm import Session

from golive.auth.roles import Role
from golive.auth.service import SYSTEM
from golive.deployments.executors.ssh_endpoints import set_endpoint
from golive.inventory.models import ConnectionKind
from golive.inventory.schemas import ComponentCreate, TargetCreate
from golive.inventory.service import create_component, create_target
from golive.media.models import VersionStatus
from golive.media.service import NewVersion, change_status, register_version
from golive.workorders.service import open_work_order

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
WORK_ORDER_READERS = STAFF | {Role.END_USER}
MANAGERS = frozenset({Role.ADMIN, Role.DEPLOYMENT_MANAGER})
HOST_KEY = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
KNOWN_HOSTS = f"[127.0.0.1]:22 {HOST_KEY}"

W = "/api/v1/work-orders"
CELLS = [
    ("GET", W, WORK_ORDER_READERS, None, 200),
    (
        "POST",
        W,
        MANAGERS,
        {
            "target": "wt2-{s}",
            "component": "wc-{s}",
            "version": "1",
            "title": "matrix",
            "assigned_role": "deployer",
        },
        201,
    ),
    ("GET", W + "/{wo}", WORK_ORDER_READERS, None, 200),
    ("POST", W + "/{wo}/complete", WORK_ORDER_READERS, {"checked": [], "evidence": {}}, 200),
    ("POST", W + "/{wo2}/fail", WORK_ORDER_READERS, {"reason": "matrix"}, 200),
    (
        "PUT",
        "/api/v1/targets/st-{s}/ssh",
        MANAGERS,
        {"username": "deploy", "known_hosts": KNOWN_HOSTS},
        200,
    ),
    ("GET", "/api/v1/targets/st-{s}/ssh", STAFF, None, 200),
    ("GET", "/api/v1/ssh/public-key", STAFF, None, 200),
]

IDS: dict[str, dict[str, str]] = {}


def setup(session: Session, slug: str, role: Role) -> None:
    for name in ("wt", "wt2", "wt3"):
        create_target(
            session,
            SYSTEM,
            TargetCreate(
                name=f"{name}-{slug}", environment="host", connection=ConnectionKind.MANUAL
            ),
        )
    create_target(
        session,
        SYSTEM,
        TargetCreate(
            name=f"st-{slug}",
            environment="host",
            connection=ConnectionKind.SSH,
            address="127.0.0.1",
        ),
    )
    set_endpoint(session, SYSTEM, f"st-{slug}", username="deploy", port=22, known_hosts=KNOWN_HOSTS)
    component = f"wc-{slug}"
    create_component(
        session,
        SYSTEM,
        ComponentCreate.model_validate({"name": component, "kind": "process"}, strict=False),
    )
    register_version(
        session, SYSTEM, NewVersion(component, "1", "runbook", "text/plain", "", None), "c" * 64, 10
    )
    change_status(session, SYSTEM, component, "1", VersionStatus.APPROVED, None)
    closer = Role.END_USER if role is Role.AGENT else role
    ids = {}
    for key, target in (("{wo}", f"wt-{slug}"), ("{wo2}", f"wt3-{slug}")):
        order = open_work_order(
            session,
            SYSTEM,
            target=target,
            component=component,
            version="1",
            title="matrix",
            assigned_role=closer.value,
        )
        ids[key] = str(order.id)
    IDS[slug] = ids
