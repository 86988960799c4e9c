"""A tiny, real golive server for the agent's unit tests: the agent protocol
(docs/agent-protocol.md) over real HTTP, with a real TUF repository and blob store behind
it. Modelled on python-tuf's RepositorySimulator: it implements the interface, it does not
mock calls. Tests drive it (publish, assign, tamper, revoke) and read what it recorded.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from golive.agent.releases import canonical
from golive.media.storage import LocalBlobStore
from golive.media.tuf_repo import PublishedTarget, TufRepository

ENROLL_TOKEN = "gle_test-enrollment"
MOVES = {
    "pending": {"downloading", "failed"},
    "dispatched": {"downloading", "failed"},
    "downloading": {"installing", "failed"},
    "installing": {"verifying", "failed", "rolled_back"},
    "verifying": {"succeeded", "failed", "rolled_back"},
}
ACTIVE = ("pending", "dispatched", "downloading", "installing", "verifying")


@dataclass
class FakeTarget:
    name: str
    public_key: str
    credential: str
    revoked: bool = False
    generation: int = 1
    inventory: dict[str, Any] | None = None
    inventory_digest: str | None = None
    installed: dict[str, str] = field(default_factory=dict)  # component -> version


@dataclass
class FakeAssignment:
    id: int
    target: str
    action: str
    component: str
    version: str
    digest: str
    size: int
    tuf_target: str
    hooks: dict[str, str]
    hook_timeout_seconds: float
    keep_releases: int
    state: str = "pending"
    reports: list[dict[str, Any]] = field(default_factory=list)

    def as_protocol(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "action": self.action,
            "component": self.component,
            "version": self.version,
            "digest": self.digest,
            "size": self.size,
            "tuf_target": self.tuf_target,
            "state": self.state,
            "hooks": self.hooks,
            "hook_timeout_seconds": self.hook_timeout_seconds,
            "keep_releases": self.keep_releases,
        }


class FakeGolive:
    """The server side of the protocol, in memory, plus a TUF repository on disk."""

    def __init__(self, folder: Path) -> None:
        self.repo = TufRepository.initialise(folder / "tuf", folder / "keys")
        self.blobs = LocalBlobStore(folder / "blobs")
        self.scratch = folder / "scratch"
        self.scratch.mkdir(parents=True)
        self.published: dict[str, PublishedTarget] = {}
        self.targets: dict[str, FakeTarget] = {}
        self.assignments: dict[int, FakeAssignment] = {}
        self.lock = threading.Lock()
        self.changed = threading.Condition(self.lock)  # held check-ins wait on it
        self.holding = 0  # check-ins held now
        self.requests: list[tuple[str, str, int]] = []
        self.down = False  # answer 503 to every agent call (a restarting server)
        self.takes_batches = True  # False: a server without POST /agent/reports (404)
        self.keeps_inventory = True  # False: it never records one (asks for it every time)
        self.url = ""

    # -- what tests do -----------------------------------------------------------------------

    def publish(self, component: str, version: str, filename: str, content: bytes) -> str:
        """Store ``content`` as a DML blob and publish it; returns its TUF target path."""
        digest = hashlib.sha256(content).hexdigest()
        source = self.scratch / digest
        source.write_bytes(content)
        self.blobs.put_file(digest, source)
        path = f"{component}/{version}/{filename}"
        self.published[path] = PublishedTarget(len(content), digest)
        self.repo.publish(self.published)
        return path

    def tamper(self, tuf_target: str) -> None:
        """Flip one byte of a published blob (a compromised mirror)."""
        blob = self.blobs.local_path(self.published[tuf_target].sha256)
        assert blob is not None
        blob.chmod(0o644)
        data = bytearray(blob.read_bytes())
        data[len(data) // 2] ^= 0xFF
        blob.write_bytes(bytes(data))

    def assign(
        self,
        target: str,
        tuf_target: str,
        *,
        action: str = "install",
        hooks: dict[str, str] | None = None,
        hook_timeout_seconds: float = 30,
        keep_releases: int = 3,
    ) -> int:
        component, version, _name = tuf_target.split("/")
        published = self.published[tuf_target]
        with self.lock:
            number = len(self.assignments) + 1
            self.assignments[number] = FakeAssignment(
                number,
                target,
                action,
                component,
                version,
                published.sha256,
                published.length,
                tuf_target,
                hooks or {},
                hook_timeout_seconds,
                keep_releases,
            )
            self.targets[target].generation += 1
            self.changed.notify_all()
        return number

    def states(self, assignment_id: int) -> list[str]:
        return [report["state"] for report in self.assignments[assignment_id].reports]

    # -- the protocol ------------------------------------------------------------------------

    def handle(
        self, method: str, path: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        path, _, query = path.partition("?")
        if path.startswith("/tuf/"):
            return self._tuf(path)
        if self.down:
            return _error(503, "unavailable", "the server is restarting")
        token = headers.get("authorization", "").removeprefix("Bearer ")
        with self.lock:
            if (method, path) == ("POST", "/api/v1/agent/register"):
                return self._register(token, json.loads(body))
            target = next((t for t in self.targets.values() if t.credential == token), None)
            if target is None:
                return _error(401, "unauthenticated", "unknown credential")
            if target.revoked:
                return _error(401, "target_revoked", "this target's credential was revoked")
            if (method, path) == ("GET", "/api/v1/agent/desired"):
                wait = float(parse_qs(query).get("wait", ["0"])[0])
                return self._desired(target, headers, wait)
            if (method, path) == ("POST", "/api/v1/agent/report"):
                return self._report(target, json.loads(body))
            if (method, path) == ("POST", "/api/v1/agent/reports") and self.takes_batches:
                return self._reports(target, json.loads(body))
            if (method, path) == ("POST", "/api/v1/agent/inventory"):
                payload = json.loads(body)
                if self.keeps_inventory:
                    target.inventory = payload
                    target.inventory_digest = hashlib.sha256(canonical(payload)).hexdigest()
                self.changed.notify_all()
                return _json(200, {"recorded": True, "digest": target.inventory_digest})
        return _error(404, "not_found", f"no route {method} {path}")

    def _register(self, token: str, body: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
        if token != ENROLL_TOKEN:
            return _error(401, "unauthenticated", "unknown enrollment token")
        name, key = body["name"], body["public_key"]
        existing = self.targets.get(name)
        if existing is not None and existing.public_key != key:
            return _error(409, "conflict", f"target {name} is enrolled with another key")
        credential = f"gla_{secrets.token_hex(16)}"
        status = 200 if existing is not None else 201
        if existing is None:
            self.targets[name] = FakeTarget(name, key, credential)
        else:
            existing.credential = credential
        answer = {
            "target": name,
            "environment": "production",
            "credential": credential,
            "tuf_root": json.loads(self.repo.root_json()),
            "poll_interval_seconds": 30,
        }
        return _json(status, answer)

    def _desired(
        self, target: FakeTarget, headers: dict[str, str], wait: float
    ) -> tuple[int, dict[str, str], bytes]:
        def unchanged() -> bool:
            etag = f'"{target.name}-{target.generation}"'
            same_inventory = headers.get("x-golive-inventory") == target.inventory_digest
            return headers.get("if-none-match") == etag and same_inventory

        if unchanged() and wait > 0:  # a waiting check-in: hold it until something moves
            self.holding += 1
            try:
                self.changed.wait_for(lambda: not unchanged() or target.revoked, timeout=wait)
            finally:
                self.holding -= 1
        etag = f'"{target.name}-{target.generation}"'
        same_inventory = headers.get("x-golive-inventory") == target.inventory_digest
        if headers.get("if-none-match") == etag and same_inventory:
            return 304, {"ETag": etag}, b""
        listed = []
        for assignment in self.assignments.values():
            if assignment.target == target.name and assignment.state in ACTIVE:
                if assignment.state == "pending":
                    assignment.state = "dispatched"
                listed.append(assignment.as_protocol())
        answer = {
            "target": target.name,
            "etag": etag,
            "poll_interval_seconds": 30,
            "send_inventory": not same_inventory,
            "assignments": listed,
        }
        return _json(200, answer, {"ETag": etag})

    def _reports(
        self, target: FakeTarget, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        before = f'"{target.name}-{target.generation}"'
        results = []
        for report in body["reports"]:
            status, _headers, answer = self._report(target, report)
            result = json.loads(answer)
            if status != 200:
                result = {"assignment_id": report["assignment_id"], **result}
                result["error"]["status"] = status
            results.append(result)
        # As the real server: the ETag after these reports, only when the agent's was
        # current before them (so nothing but these reports moved it).
        after = f'"{target.name}-{target.generation}"' if body.get("etag") == before else None
        return _json(200, {"results": results, "etag": after, "inventory_digest": None})

    def _report(
        self, target: FakeTarget, body: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        assignment = self.assignments.get(int(body["assignment_id"]))
        if assignment is None or assignment.target != target.name:
            return _error(404, "not_found", "no such assignment")
        wanted = body["state"]
        if wanted != assignment.state:
            if wanted not in MOVES.get(assignment.state, set()):
                message = f"assignment {assignment.id} is {assignment.state}, not -> {wanted}"
                return _error(409, "conflict", message)
            assignment.state = wanted
            assignment.reports.append(body)
            target.generation += 1
            self.changed.notify_all()
            if wanted == "succeeded":
                if assignment.action == "remove":
                    target.installed.pop(assignment.component, None)
                else:
                    target.installed[assignment.component] = assignment.version
        return _json(200, {"assignment_id": assignment.id, "state": assignment.state})

    def _tuf(self, path: str) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/tuf/metadata/"):
            found = self.repo.metadata_file(path.removeprefix("/tuf/metadata/"))
            if found is not None:
                return 200, {"Content-Type": "application/json"}, found.read_bytes()
        elif path.startswith("/tuf/targets/"):
            digest = self.repo.target_digest(path.removeprefix("/tuf/targets/"))
            blob = self.blobs.local_path(digest) if digest else None
            if blob is not None and blob.is_file():
                return 200, {"Content-Type": "application/octet-stream"}, blob.read_bytes()
        return _error(404, "not_found", f"no {path}")


def _json(
    status: int, body: dict[str, Any], headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    return (
        status,
        {"Content-Type": "application/json", **(headers or {})},
        json.dumps(body).encode(),
    )


def _error(status: int, code: str, message: str) -> tuple[int, dict[str, str], bytes]:
    return _json(status, {"error": {"code": code, "message": message, "details": {}}})


@contextmanager
def serve(fake: FakeGolive) -> Iterator[FakeGolive]:
    """Serve ``fake`` on an ephemeral loopback port in a thread."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = {name.lower(): value for name, value in self.headers.items()}
            status, out_headers, data = fake.handle(self.command, self.path, headers, body)
            fake.requests.append((self.command, self.path, status))
            self.send_response(status)
            for name, value in out_headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-golive", daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield fake
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
