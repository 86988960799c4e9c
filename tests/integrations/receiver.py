"""A real webhook receiver: a threaded HTTP server on an ephemeral loopback port that
records every request and can be told to fail the first N with HTTP 500."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Received:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    status: int  # what the receiver answered
    at: float  # time.monotonic()


@dataclass
class Receiver:
    url: str
    fail_first: int = 0
    requests: list[Received] = field(default_factory=list)
    _lock: threading.Condition = field(default_factory=threading.Condition)

    def answer(self) -> int:
        with self._lock:
            if self.fail_first > 0:
                self.fail_first -= 1
                return 500
            return 204

    def add(self, received: Received) -> None:
        with self._lock:
            self.requests.append(received)
            self._lock.notify_all()

    def wait_for(self, count: int, timeout: float = 20.0) -> list[Received]:
        """The first ``count`` requests, once they have arrived."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.requests) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"the receiver got {len(self.requests)} of {count} requests in {timeout} s"
                    )
                self._lock.wait(left)
            return list(self.requests[:count])


@contextmanager
def receiving(fail_first: int = 0) -> Iterator[Receiver]:
    receiver = Receiver(url="", fail_first=fail_first)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            status = receiver.answer()
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()
            receiver.add(
                Received(
                    path=self.path,
                    headers={key.lower(): value for key, value in self.headers.items()},
                    body=body,
                    status=status,
                    at=time.monotonic(),
                )
            )

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hook"
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
