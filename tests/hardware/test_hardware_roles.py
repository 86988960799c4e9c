"""The hardware store's role cells, run on their own (the full matrix runs them too)."""

from __future__ import annotations

from typing import Any

from golive.auth.roles import Role
from golive.auth.service import SYSTEM
from golive.inventory.schemas import EnvironmentCreate
from golive.inventory.service import create_environment
from tests.hardware import role_cells
from tests.support.live import LiveServer


def _fill(value: Any, slug: str) -> Any:
    if isinstance(value, str):
        return value.replace("{s}", slug)
    if isinstance(value, dict):
        return {k: _fill(v, slug) for k, v in value.items()}
    return value


def test_every_hardware_route_has_a_cell(live: LiveServer) -> None:
    def shape(path: str) -> str:
        return "/".join("*" if "{" in part else part for part in path.split("/"))

    routes = {
        (method.upper(), shape(path))
        for path, operations in live.app.openapi()["paths"].items()
        if path.startswith("/api/v1/hardware")
        for method in operations
    }
    cells = {(method, shape(path)) for method, path, *_ in role_cells.CELLS}
    assert routes == cells


def test_each_role_gets_exactly_its_cells(live: LiveServer) -> None:
    with live.db.writing() as session:
        create_environment(session, SYSTEM, EnvironmentCreate(name="host"))
        for role in Role:
            role_cells.setup(session, role.value.replace("_", "-"))
    wrong: list[str] = []
    for method, path, allowed, body, success in role_cells.CELLS:
        for role in Role:
            slug = role.value.replace("_", "-")
            with live.client(role.value) as http:
                answer = http.request(method, _fill(path, slug), json=_fill(body, slug))
            expected = success if role in allowed else 403
            if answer.status_code != expected:
                wrong.append(f"{role} {method} {path}: {answer.status_code} {answer.text[:120]}")
    assert not wrong, "\n".join(wrong)
