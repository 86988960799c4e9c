"""Bad input gets a clear 4xx with the error body, and changes nothing (records or audit)."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from golive.models import metadata
from tests.support.live import LiveServer

J = {"Content-Type": "application/json"}
BIG = 2 * 1024 * 1024

# (method, path, raw body or JSON value, headers, expected status)
CASES: list[tuple[str, str, object, dict[str, str], int]] = [
    ("POST", "/api/v1/environments", b"{not json", J, 400),
    ("POST", "/api/v1/environments", b"", J, 422),
    ("POST", "/api/v1/environments", b"\xff\xfe\x00", J, 400),
    ("POST", "/api/v1/environments", [], J, 422),
    ("POST", "/api/v1/environments", "production", J, 422),
    ("POST", "/api/v1/environments", {"name": 123}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "order": "3"}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "order": True}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "order": 10**30}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "order": -1}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "colour": "red"}, J, 422),
    ("POST", "/api/v1/environments", {"name": "Prod Env"}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x" * 64}, J, 422),
    ("POST", "/api/v1/environments", {"name": "-x"}, J, 422),
    ("POST", "/api/v1/environments", {"name": "a\u0000b"}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "policy": {"requires_change": "yes"}}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "policy": {"gate": {"a": [1]}}}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "policy": []}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "description": "d" * 5000}, J, 422),
    ("POST", "/api/v1/environments", {"name": "x", "pad": "p" * BIG}, J, 413),
    ("POST", "/api/v1/environments", b"name=x", {"Content-Type": "text/plain"}, 422),
    ("PUT", "/api/v1/environments", {"name": "x"}, J, 405),
    ("PATCH", "/api/v1/environments/seed", {"order": "first"}, J, 422),
    ("PATCH", "/api/v1/environments/seed", {"name": "renamed"}, J, 422),
    ("POST", "/api/v1/components", {"name": "x", "kind": "firmware"}, J, 422),
    ("POST", "/api/v1/components", {"name": "x", "kind": None}, J, 422),
    ("POST", "/api/v1/components", {"name": "x"}, J, 422),
    (
        "POST",
        "/api/v1/targets",
        {"name": "x", "environment": "seed", "connection": "telnet"},
        J,
        422,
    ),
    (
        "POST",
        "/api/v1/targets",
        {"name": "x", "environment": "seed", "labels": {"Bad Key": "v"}},
        J,
        422,
    ),
    ("POST", "/api/v1/targets", {"name": "x", "environment": "seed", "labels": {"k": 1}}, J, 422),
    ("POST", "/api/v1/targets", {"name": "x", "environment": "seed", "labels": ["k=v"]}, J, 422),
    ("POST", "/api/v1/targets", {"name": "x", "environment": "ghost"}, J, 404),
    ("POST", "/api/v1/principals", {"name": "x", "roles": ["emperor"]}, J, 422),
    ("POST", "/api/v1/principals", {"name": "x", "roles": []}, J, 422),
    ("POST", "/api/v1/tokens", {"principal": "admin", "expires_at": "tomorrow"}, J, 422),
    (
        "POST",
        "/api/v1/tokens",
        {"principal": "admin", "expires_at": "2020-01-01T00:00:00Z"},
        J,
        422,
    ),
    ("POST", "/api/v1/tokens", {"principal": "admin", "expires_at": "2099-01-01T00:00:00"}, J, 422),
    ("POST", "/api/v1/tokens/abc/revoke", {}, J, 422),
    ("POST", "/api/v1/tokens/999999/revoke", {}, J, 404),
    ("GET", "/api/v1/targets?limit=0", None, {}, 422),
    ("GET", "/api/v1/targets?limit=abc", None, {}, 422),
    ("GET", "/api/v1/targets?offset=-5", None, {}, 422),
    ("GET", "/api/v1/targets?label=novalue", None, {}, 422),
    ("GET", "/api/v1/components?kind=firmware", None, {}, 422),
    ("GET", "/api/v1/audit/events?after_seq=x", None, {}, 422),
    ("GET", "/api/v1/nothing-here", None, {}, 404),
]


def _row_counts(live: LiveServer) -> dict[str, int]:
    with live.db.reading() as session:
        return {
            table.name: session.scalar(select(func.count()).select_from(table)) or 0
            for table in metadata.sorted_tables
        }


def _chunks(size: int) -> Iterator[bytes]:
    yield b'{"name": "x", "pad": "'
    for _ in range(size // 65536):
        yield b"p" * 65536
    yield b'"}'


def test_malformed_requests_are_refused_and_change_nothing(live: LiveServer) -> None:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "seed"}).status_code == 201
        before = _row_counts(live)
        verdict_before = http.get("/api/v1/audit/verify").json()
        problems: list[str] = []
        for method, path, body, headers, expected in CASES:
            content = (
                body
                if isinstance(body, bytes)
                else (None if body is None else json.dumps(body).encode())
            )
            answer = http.request(method, path, content=content, headers=headers)
            shown = f"{method} {path} {str(body)[:60]!r}"
            if answer.status_code != expected:
                problems.append(
                    f"{shown}: {answer.status_code}, expected {expected}: {answer.text[:200]}"
                )
                continue
            error = answer.json().get("error", {})
            if not (
                isinstance(error.get("code"), str)
                and error.get("message")
                and isinstance(error.get("details"), dict)
            ):
                problems.append(f"{shown}: error body malformed: {answer.text[:200]}")
        streamed = http.post("/api/v1/environments", content=_chunks(BIG), headers=J)
        if streamed.status_code != 413:
            problems.append(f"chunked oversized body: {streamed.status_code}")
        assert not problems, "\n".join(problems)
        assert _row_counts(live) == before
        assert http.get("/api/v1/audit/verify").json() == verdict_before


@pytest.mark.parametrize("field", ["name", "order", "policy"])
def test_validation_message_names_the_field(live: LiveServer, field: str) -> None:
    body = {"name": "ok", "order": 1, "policy": {}}
    body[field] = {"name": "Not A Slug", "order": "one", "policy": "strict"}[field]
    with live.client() as http:
        error = http.post("/api/v1/environments", json=body).json()["error"]
    assert error["code"] == "invalid_input"
    assert error["message"].startswith(f"body.{field}")
    assert error["details"]["problems"][0]["location"] == f"body.{field}"
