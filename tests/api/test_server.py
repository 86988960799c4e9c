"""golive's HTTP server: request bodies reach the app whole and in order, however they arrive."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from golive.api.server import BodyProtocol, server_config
from tests.support.live import running

# BodyProtocol replaces HttpToolsProtocol.on_body and relies on RequestResponseCycle.receive
# handing ``bytes(self.body)`` on and starting again from an empty bytearray. When an
# upgrade of uvicorn changes either, these digests change: read the new code, adjust
# BodyProtocol if needed, then record the new digests.
PINNED = {
    "HttpToolsProtocol.on_body": "dba9c32aeba35b6ae10722f86232d44d93fda42d97711244eeaa51c0a1f3e1c9",
    "RequestResponseCycle.receive": (
        "8124ae006be71184810da91d586b97c4b3b9ae43e28984bc94f81e26d20af3e6"
    ),
}


def test_the_uvicorn_code_body_protocol_builds_on_is_the_code_it_was_written_for() -> None:
    found = {
        "HttpToolsProtocol.on_body": inspect.getsource(HttpToolsProtocol.on_body),
        "RequestResponseCycle.receive": inspect.getsource(RequestResponseCycle.receive),
    }
    digests = {name: hashlib.sha256(code.encode()).hexdigest() for name, code in found.items()}
    assert digests == PINNED


class _Recorder:
    """An ASGI app that keeps the pieces of each request body, optionally reading slowly."""

    def __init__(self, pause: float) -> None:
        self.pause = pause
        self.pieces: list[bytes] = []

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        pieces: list[bytes] = []
        more = True
        while more:
            if self.pause:
                await asyncio.sleep(self.pause)  # the sender runs ahead: pieces pile up
            message = await receive()
            pieces.append(message.get("body", b""))
            more = message.get("more_body", False)
        self.pieces = pieces
        digest = hashlib.sha256(b"".join(pieces)).hexdigest().encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": digest})


@contextmanager
def _serving(app: Any) -> Iterator[str]:
    config = server_config(app, "127.0.0.1", 0, lifespan="off")
    assert config.http is BodyProtocol
    with running(config) as url:
        yield url


def _pieces(total: int, size: int) -> Iterator[bytes]:
    """Pieces of distinct bytes (piece n is all n % 251), so a reordering shows."""
    for number, start in enumerate(range(0, total, size)):
        yield bytes([number % 251]) * min(size, total - start)


@pytest.mark.parametrize("pause", [0.0, 0.002], ids=["app-keeps-up", "pieces-pile-up"])
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_a_body_in_many_pieces_arrives_whole_and_in_order(pause: float, chunked: bool) -> None:
    body = b"".join(_pieces(3_000_000, 70_001))
    app = _Recorder(pause)
    with _serving(app) as url:
        headers = {} if chunked else {"Content-Length": str(len(body))}
        answer = httpx.post(url, content=_pieces(len(body), 70_001), headers=headers)
    assert answer.text == hashlib.sha256(body).hexdigest()
    assert b"".join(app.pieces) == body
    assert all(type(piece) is bytes for piece in app.pieces)
    if pause:
        # The slow reader saw joined pieces, and flow control kept them bounded.
        assert max(len(piece) for piece in app.pieces) > 70_001


def test_a_body_cut_short_is_a_disconnect_not_a_truncated_body() -> None:
    seen: list[dict[str, Any]] = []

    async def watcher(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            while True:
                message = await receive()
                seen.append(message)
                if message["type"] == "http.disconnect" or not message.get("more_body"):
                    return

    with _serving(watcher) as url:
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port)) as raw:
            raw.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n" + b"a" * 300)
            time.sleep(0.2)
        deadline = time.monotonic() + 5
        while not (seen and seen[-1]["type"] == "http.disconnect"):
            assert time.monotonic() < deadline, seen
            time.sleep(0.01)
    assert b"".join(m.get("body", b"") for m in seen) == b"a" * 300
    assert all(m.get("more_body") for m in seen if m["type"] == "http.request")
