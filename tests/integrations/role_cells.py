"""Role-matrix cells for the integrations endpoints, for tests/auth/test_role_matrix.py.

``CELLS`` take golive API tokens, as ``(method, path, allowed roles, body, success
status)``; ``{s}`` is the acting role as a slug and ``{dlv-…}`` that role's own delivery
(``IDS``, filled by ``setup``). ``PUBLIC_CELLS`` is the ITSM bridge, which takes no token
but an HMAC signature: every golive API token, whatever its role, is refused there with
401. The allowed sets are written by hand: only admins set integrations up, and auditors
read them (the delivery log carries audit events).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from golive.auth.roles import Role
from golive.auth.service import SYSTEM
from golive.db import utcnow
from golive.integrations import service
from golive.integrations.models import WebhookDelivery
from golive.integrations.schemas import ConnectionCreate, WebhookCreate
from golive.integrations.sealing import SecretBox

ALL = frozenset(Role)
READERS = frozenset({Role.ADMIN, Role.AUDITOR})
MANAGERS = frozenset({Role.ADMIN})

Cell = tuple[str, str, frozenset[Role], dict[str, Any] | None, int]
CONN = "/api/v1/itsm/connections"
HOOKS = "/api/v1/webhooks"
LOG = "/api/v1/webhook-deliveries"
# Port 9 (discard) is closed on the loopback: nothing is ever delivered there, and the
# matrix's webhooks are paused anyway.
NOWHERE = "http://127.0.0.1:9/hook"

CELLS: list[Cell] = [
    ("GET", CONN, READERS, None, 200),
    ("POST", CONN, MANAGERS, {"name": "in-{s}"}, 201),
    ("GET", f"{CONN}/ic-{{s}}", READERS, None, 200),
    ("PATCH", f"{CONN}/ic-{{s}}", MANAGERS, {"description": "matrix"}, 200),
    ("POST", f"{CONN}/ic-{{s}}/rotate", MANAGERS, None, 200),
    ("DELETE", f"{CONN}/id-{{s}}", MANAGERS, None, 204),
    ("GET", HOOKS, READERS, None, 200),
    ("POST", HOOKS, MANAGERS, {"name": "wn-{s}", "url": NOWHERE, "active": False}, 201),
    ("GET", f"{HOOKS}/wh-{{s}}", READERS, None, 200),
    ("PATCH", f"{HOOKS}/wh-{{s}}", MANAGERS, {"url": NOWHERE + "2"}, 200),
    ("POST", f"{HOOKS}/wh-{{s}}/rotate", MANAGERS, {"overlap_hours": 1}, 200),
    ("DELETE", f"{HOOKS}/wd-{{s}}", MANAGERS, None, 204),
    ("GET", LOG, READERS, None, 200),
    ("GET", f"{LOG}/{{dlv-show}}", READERS, None, 200),
    ("POST", f"{LOG}/{{dlv-retry}}/retry", MANAGERS, None, 200),
]

PUBLIC_CELLS: list[Cell] = [
    ("POST", "/api/v1/itsm/changes", ALL, {"number": "CHG-{s}"}, 401),
]

# Per role slug: placeholder -> that role's delivery id.
IDS: dict[str, dict[str, str]] = {}


def setup(session: Session, slug: str) -> None:
    """Connections ``ic-``/``id-``, paused webhooks ``wh-``/``wd-`` and two failed
    deliveries of ``wh-`` for one role's cells."""
    box = SecretBox.generate()
    for name in (f"ic-{slug}", f"id-{slug}"):
        service.create_connection(session, SYSTEM, box, ConnectionCreate(name=name))
    hooks = [
        service.create_webhook(
            session, SYSTEM, box, WebhookCreate(name=name, url=NOWHERE, active=False)
        )[0]
        for name in (f"wh-{slug}", f"wd-{slug}")
    ]
    ids = []
    for seq in (1, 2):
        delivery = WebhookDelivery(
            webhook_id=hooks[0].id,
            audit_seq=seq,
            event="change.create",
            payload={"event": "change.create"},
            state="failed",
            attempts=3,
            history=[],
            created_at=utcnow(),
        )
        session.add(delivery)
        session.flush()
        ids.append(str(delivery.id))
    IDS[slug] = {"{dlv-show}": ids[0], "{dlv-retry}": ids[1]}
