"""The HTTP server under golive's app: uvicorn, and how request bodies reach the app.

``golive server`` and the tests' live servers both build their server here, so
what the tests exercise is what users run.
"""

from __future__ import annotations

from typing import Any

import uvicorn
from uvicorn.protocols.http.flow_control import HIGH_WATER_LIMIT
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class BodyProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, handing request bodies to the app without copying.

    uvicorn appends every piece of a request body the parser gives it to a bytearray,
    and ``receive()`` copies that out again as bytes: two copies of every uploaded
    byte on the event loop, a quarter of the loop's time in a 1 GiB ingest
    (bench/ingest.py). When the app keeps up there is one piece waiting at a time;
    it is passed on as the bytes object the parser made (``bytes(b)`` is ``b``), and
    only pieces that pile up are joined. Flow control is uvicorn's own.

    ``tests/api/test_server.py`` pins the uvicorn method this replaces.
    """

    def on_body(self, body: bytes) -> None:
        cycle = self.cycle
        if (self.parser.should_upgrade() and self._should_upgrade()) or cycle.response_complete:
            return
        waiting: bytes | bytearray = cycle.body
        if not waiting:
            waiting = body  # receive() hands it on as it is
        else:
            if not isinstance(waiting, bytearray):
                waiting = bytearray(waiting)
            waiting += body
        cycle.body = waiting  # type: ignore[assignment]  # bytes or bytearray, both read once
        if len(waiting) > HIGH_WATER_LIMIT:
            self.flow.pause_reading()
        cycle.message_event.set()


def server_config(app: Any, host: str, port: int, **options: Any) -> uvicorn.Config:
    """uvicorn's settings for golive's app (``options`` adds to or overrides them)."""
    settings: dict[str, Any] = {
        "host": host,
        "port": port,
        "http": BodyProtocol,
        "log_config": None,
        "access_log": False,
        "proxy_headers": False,
        "server_header": False,
    }
    return uvicorn.Config(app, **{**settings, **options})
