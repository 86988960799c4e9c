"""Every role against every endpoint: allowed cells succeed, the others are 403, no token is 401.

The table below is the specification, written out by hand; it is not derived
from golive's own grant table, so a wrong grant in the code fails here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from golive.auth.roles import Role
from golive.auth.service import SYSTEM, create_principal, issue_token
from golive.inventory.schemas import ComponentCreate, EnvironmentCreate, TargetCreate
from golive.inventory.service import create_component, create_environment, create_target
from tests.agents import role_cells as agent_cells
from tests.changes import role_cells as change_cells
from tests.deployments import role_cells as deployment_cells
from tests.hardware import role_cells as hardware_cells
from tests.integrations import role_cells as integration_cells
from tests.support.live import LiveServer
from tests.workorders import role_cells as work_order_cells

ALL = frozenset(Role)
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
ADMIN = frozenset({Role.ADMIN})
MANAGERS = frozenset({Role.ADMIN, Role.DEPLOYMENT_MANAGER})
COMPONENT_WRITERS = MANAGERS | {Role.RELEASE_MANAGER}
AUDITORS = frozenset({Role.ADMIN, Role.AUDITOR})
METRICS = frozenset({Role.ADMIN, Role.AUDITOR, Role.DEPLOYMENT_MANAGER})


@dataclass(frozen=True)
class Cell:
    method: str
    path: str  # {s} is the acting role as a slug; {token} the role's spare token id
    allowed: frozenset[Role]
    body: dict[str, Any] | None = None
    success: int = 200
    raw: bytes | None = None  # a file upload instead of a JSON body


ENDPOINTS = [
    Cell("GET", "/api/v1/me", ALL),
    Cell("GET", "/api/v1/environments", STAFF),
    Cell("POST", "/api/v1/environments", MANAGERS, {"name": "n-{s}"}, 201),
    Cell("GET", "/api/v1/environments/e-{s}", STAFF),
    Cell("PATCH", "/api/v1/environments/e-{s}", MANAGERS, {"description": "changed"}),
    Cell("DELETE", "/api/v1/environments/e-{s}", MANAGERS, None, 204),
    Cell("GET", "/api/v1/targets", STAFF),
    Cell("POST", "/api/v1/targets", MANAGERS, {"name": "n-{s}", "environment": "host"}, 201),
    Cell("GET", "/api/v1/targets/t-{s}", STAFF),
    Cell("PATCH", "/api/v1/targets/t-{s}", MANAGERS, {"labels": {"k": "v"}}),
    Cell("DELETE", "/api/v1/targets/t-{s}", MANAGERS, None, 204),
    Cell("GET", "/api/v1/components", STAFF),
    Cell(
        "POST", "/api/v1/components", COMPONENT_WRITERS, {"name": "n-{s}", "kind": "process"}, 201
    ),
    Cell("GET", "/api/v1/components/c-{s}", STAFF),
    Cell("PATCH", "/api/v1/components/c-{s}", COMPONENT_WRITERS, {"owner": "someone"}),
    Cell("DELETE", "/api/v1/components/c-{s}", COMPONENT_WRITERS, None, 204),
    Cell("GET", "/api/v1/principals", ADMIN),
    Cell("POST", "/api/v1/principals", ADMIN, {"name": "n-{s}", "roles": ["deployer"]}, 201),
    Cell("GET", "/api/v1/principals/p-{s}", ADMIN),
    Cell("PATCH", "/api/v1/principals/p-{s}", ADMIN, {"display_name": "P"}),
    Cell("GET", "/api/v1/tokens", ADMIN),
    Cell("POST", "/api/v1/tokens", ADMIN, {"principal": "p-{s}"}, 201),
    Cell("POST", "/api/v1/tokens/{token}/revoke", ADMIN, {"reason": "matrix"}),
    Cell("GET", "/api/v1/audit/events", AUDITORS),
    Cell("GET", "/api/v1/audit/export", AUDITORS),
    Cell("GET", "/api/v1/audit/verify", AUDITORS),
    Cell("GET", "/metrics", METRICS),
]
MEDIA_READERS = STAFF
MEDIA_ADDERS = MANAGERS | {Role.RELEASE_MANAGER}
MEDIA_VERIFIERS = MEDIA_ADDERS | {Role.AUDITOR}
V = "/api/v1/components/mc-{s}/versions"
ENDPOINTS += [
    Cell("POST", V + "?version=2", MEDIA_ADDERS, None, 201, raw=b"two"),
    Cell("GET", V, MEDIA_READERS),
    Cell("GET", V + "/{v}", MEDIA_READERS),
    Cell("GET", V + "/{v}/content", MEDIA_READERS),
    Cell("POST", V + "/{v}/attachments?filename=sbom.json", MEDIA_ADDERS, None, 201, raw=b"{}"),
    Cell("POST", V + "/{v}/approve", MEDIA_ADDERS),
    Cell("POST", V + "/{v}/withdraw", MEDIA_ADDERS, {"reason": "matrix"}),
    Cell(
        "GET", "/api/v1/media/deployable?component=mc-{s}&version=1&environment=host", MEDIA_READERS
    ),
    Cell("POST", "/api/v1/media/verify", MEDIA_VERIFIERS, {"component": "mc-{s}"}),
    Cell("POST", "/api/v1/media/prune", MANAGERS, {"keep": 5, "dry_run": True}),
]
ENDPOINTS += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in hardware_cells.CELLS
]
ENDPOINTS += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in agent_cells.CELLS
]
ENDPOINTS += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in work_order_cells.CELLS
]
ENDPOINTS += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in deployment_cells.CELLS
]
ENDPOINTS += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in change_cells.CELLS
]
ENDPOINTS += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in integration_cells.CELLS
]
PUBLIC = [
    Cell("GET", "/api/v1/health", ALL),
    Cell("GET", "/tuf/metadata/{root}", ALL),
    Cell("GET", "/tuf/targets/{t}", ALL, None, 404),
]
# The agent's own endpoints refuse every golive API token: it is not an agent credential.
PUBLIC += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in agent_cells.AGENT_CELLS
]
# The ITSM bridge takes an HMAC signature, never a token.
PUBLIC += [
    Cell(method, path, allowed, body, success)
    for method, path, allowed, body, success in integration_cells.PUBLIC_CELLS
]


def _slug(role: Role) -> str:
    return role.value.replace("_", "-")


def _fill(value: Any, slug: str, token: int) -> Any:
    if isinstance(value, str):
        for placeholder, own in work_order_cells.IDS.get(slug, {}).items():
            value = value.replace(placeholder, own)
        for placeholder, own in deployment_cells.IDS.get(slug, {}).items():
            value = value.replace(placeholder, own)
        for placeholder, own in change_cells.IDS.get(slug, {}).items():
            value = value.replace(placeholder, own)
        for placeholder, own in integration_cells.IDS.get(slug, {}).items():
            value = value.replace(placeholder, own)
        return (
            value.replace("{s}", slug)
            .replace("{token}", str(token))
            .replace("{v}", "1")
            .replace("{root}", "1.root.json")
            .replace("{t}", f"none/0/{'0' * 64}.{slug}.tar")
        )
    if isinstance(value, dict):
        return {k: _fill(v, slug, token) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, slug, token) for v in value]
    return value


def _objects_for_every_role(live: LiveServer) -> dict[Role, int]:
    spare_tokens: dict[Role, int] = {}
    with live.db.writing() as session:
        create_environment(session, SYSTEM, EnvironmentCreate(name="host"))
        for role in Role:
            slug = _slug(role)
            create_environment(session, SYSTEM, EnvironmentCreate(name=f"e-{slug}"))
            create_target(session, SYSTEM, TargetCreate(name=f"t-{slug}", environment="host"))
            create_component(
                session,
                SYSTEM,
                ComponentCreate.model_validate(
                    {"name": f"c-{slug}", "kind": "software"}, strict=False
                ),
            )
            create_principal(session, SYSTEM, name=f"p-{slug}", roles=["end_user"])
            token, _ = issue_token(session, SYSTEM, principal_name=f"p-{slug}")
            spare_tokens[role] = token.id
            hardware_cells.setup(session, slug)
            agent_cells.setup(session, slug)
            work_order_cells.setup(session, slug, role)
            deployment_cells.setup(session, slug)
            change_cells.setup(session, slug)
            integration_cells.setup(session, slug)
            create_component(
                session,
                SYSTEM,
                ComponentCreate.model_validate(
                    {"name": f"mc-{slug}", "kind": "software"}, strict=False
                ),
            )
    with live.client() as http:
        for role in Role:
            added = http.post(
                f"/api/v1/components/mc-{_slug(role)}/versions",
                params={"version": "1"},
                content=f"one-{role}".encode(),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert added.status_code == 201, added.text
    return spare_tokens


def test_every_route_is_in_the_table(live: LiveServer) -> None:
    tabled = {(cell.method, _shape(cell.path)) for cell in ENDPOINTS + PUBLIC}
    routes = {
        (method.upper(), _shape(path))
        for path, operations in live.app.openapi()["paths"].items()
        for method in operations
    }
    assert len(routes) >= 27
    assert routes - tabled == set(), "routes missing from the role table"
    assert tabled - routes == set(), "table rows for routes that do not exist"


def _shape(path: str) -> str:
    path = path.split("?")[0]
    return "/".join("*" if "{" in part else part for part in path.split("/"))


def test_role_by_endpoint(live: LiveServer) -> None:
    spare_tokens = _objects_for_every_role(live)
    wrong: list[str] = []
    for cell in ENDPOINTS + PUBLIC:
        for role in Role:
            slug = _slug(role)
            path = _fill(cell.path, slug, spare_tokens[role])
            body = _fill(cell.body, slug, spare_tokens[role])
            with live.client(role.value) as http:
                if cell.raw is not None:
                    answer = http.request(
                        cell.method,
                        path,
                        content=cell.raw,
                        headers={"Content-Type": "application/octet-stream"},
                    )
                else:
                    answer = http.request(cell.method, path, json=body)
            expected = cell.success if role in cell.allowed else 403
            if answer.status_code != expected:
                wrong.append(
                    f"{role.value} {cell.method} {path}: {answer.status_code} "
                    f"(expected {expected}) {answer.text[:120]}"
                )
            elif expected == 403:
                error = answer.json()["error"]
                needed = sorted(r.value for r in cell.allowed)
                if error["code"] != "forbidden" or error["details"]["roles_needed"] != needed:
                    wrong.append(f"{role.value} {cell.method} {path}: 403 body {error}")
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("token", [None, "glv_not-a-real-token", "Basic abc", "not-golive"])
def test_missing_or_bad_token_is_401_everywhere(live: LiveServer, token: str | None) -> None:
    for cell in ENDPOINTS:
        path = _fill(cell.path, "admin", 1)
        headers = {} if token is None else {"Authorization": f"Bearer {token}"}
        if token == "Basic abc":
            headers = {"Authorization": token}
        with live.client(None) as http:
            answer = http.request(
                cell.method, path, json=_fill(cell.body, "admin", 1), headers=headers
            )
        assert answer.status_code == 401, f"{cell.method} {path}: {answer.status_code}"
        assert answer.json()["error"]["code"] == "unauthenticated"
        assert answer.headers["www-authenticate"] == "Bearer"


def test_health_needs_no_token(live: LiveServer) -> None:
    with live.client(None) as http:
        answer = http.get("/api/v1/health")
    assert answer.status_code == 200
    assert answer.json()["schema"]["state"] == "current"
