"""Role-matrix cells for every hardware store endpoint, for tests/auth/test_role_matrix.py.

Each cell is ``(method, path, allowed roles, body, success status)``; ``{s}`` in the
path or body is the acting role as a slug. ``setup`` creates, per role, the objects
the cells act on, each in the state its cell needs, so the cells may run in any order.
The allowed sets are written out by hand: they are the specification, not a copy of
golive's grant table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from golive.auth.roles import Role
from golive.auth.service import SYSTEM
from golive.hardware import service
from golive.hardware.schemas import HardwareItemCreate, HardwareModelCreate
from golive.inventory.schemas import TargetCreate
from golive.inventory.service import create_target

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

H = "/api/v1/hardware"
CELLS: list[Cell] = [
    ("GET", f"{H}/models", READERS, None, 200),
    ("POST", f"{H}/models", WRITERS, {"name": "hm-{s}", "vendor": "Acme", "model": "X1"}, 201),
    ("GET", f"{H}/models/m-{{s}}", READERS, None, 200),
    ("PATCH", f"{H}/models/m-{{s}}", WRITERS, {"minimum_stock": 2}, 200),
    ("GET", f"{H}/items", READERS, None, 200),
    (
        "POST",
        f"{H}/items",
        WRITERS,
        {"serial": "new-{s}", "model": "m-{s}", "store_location": "bay-1"},
        201,
    ),
    ("GET", f"{H}/items/sn-{{s}}", READERS, None, 200),
    ("PATCH", f"{H}/items/sn-{{s}}", WRITERS, {"store_location": "bay-2"}, 200),
    ("POST", f"{H}/items/rs-{{s}}/reserve", WRITERS, {"target": "ht-{s}", "reason": "matrix"}, 200),
    ("POST", f"{H}/items/rt-{{s}}/return", WRITERS, {"reason": "matrix"}, 200),
    ("POST", f"{H}/items/rp-{{s}}/repair", WRITERS, {"reason": "matrix"}, 200),
    ("POST", f"{H}/items/re-{{s}}/retire", WRITERS, {"reason": "matrix"}, 200),
    ("POST", f"{H}/items/ds-{{s}}/dispose", WRITERS, {"reason": "matrix"}, 200),
    ("GET", f"{H}/stock", READERS, None, 200),
]


def setup(session: Session, slug: str) -> None:
    """Objects for one role's cells; needs an environment named ``host``.

    Model ``m-{slug}``; target ``ht-{slug}``; items in the store ``sn-``, ``rs-``,
    ``rp-``, ``re-``; ``rt-`` reserved for the target; ``ds-`` retired.
    """
    create_target(session, SYSTEM, TargetCreate(name=f"ht-{slug}", environment="host"))
    service.create_model(
        session, SYSTEM, HardwareModelCreate(name=f"m-{slug}", vendor="Acme", model="X1")
    )
    for prefix in ("sn", "rs", "rt", "rp", "re", "ds"):
        service.add_item(
            session,
            SYSTEM,
            HardwareItemCreate(
                serial=f"{prefix}-{slug}", model=f"m-{slug}", store_location="bay-1"
            ),
        )
    service.reserve_item(session, SYSTEM, f"rt-{slug}", target=f"ht-{slug}")
    service.retire_item(session, SYSTEM, f"ds-{slug}")
