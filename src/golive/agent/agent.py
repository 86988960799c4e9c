"""The agent's life: lock the root, enroll once, then check in, carry out assignments,
deliver reports and the inventory, and check in again. Check-ins wait: the server holds
them until something changes, so an assignment is heard of at once (backoff with jitter
while the server is away).
"""

from __future__ import annotations

import json
import logging
import os
import platform
import random
import socket
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from filelock import FileLock, Timeout

from golive import __version__
from golive.agent.client import MAX_WAIT_SECONDS, ServerClient
from golive.agent.errors import AnotherAgentRunning, ConfigurationError, ServerUnavailable
from golive.agent.fetch import DEFAULT_MAX_ARTIFACT_BYTES
from golive.agent.files import write_atomic
from golive.agent.installer import Installer, assignment_problem
from golive.agent.releases import inventory, inventory_digest
from golive.agent.state import AgentState, StateFile

log = logging.getLogger("golive.agent")

KEY_FILE = "agent-key.pem"
LOCK_FILE = "agent.lock"
PINNED_ROOT = Path("tuf") / "root.json"
MAX_BACKOFF_SECONDS = 300.0
BASE_BACKOFF_SECONDS = 1.0
JITTER = 0.2
# After a check-in that brought a change, the next one (a waiting one) follows this soon:
# a server that answered 200 every time could otherwise be asked without pause.
AFTER_CHANGE_SECONDS = 1.0


class StopWaiting(Exception):
    """Raised by ``Agent.interrupt`` (a signal handler) into a check-in the server holds."""


@dataclass(frozen=True)
class AgentOptions:
    server: str
    root: Path
    enroll_token: str | None = None
    name: str | None = None
    once: bool = False
    poll_interval: float | None = None
    max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES


def jittered(interval: float, rng: random.Random) -> float:
    """The poll interval ±20 %, so a fleet started together does not check in together."""
    return interval * rng.uniform(1 - JITTER, 1 + JITTER)


def backoff_delay(attempt: int, rng: random.Random) -> float:
    """Exponential backoff with full jitter (0 … min(cap, base·2^attempt))."""
    ceiling = min(MAX_BACKOFF_SECONDS, BASE_BACKOFF_SECONDS * 2 ** min(attempt, 30))
    return rng.uniform(0, ceiling)


def load_or_create_key(path: Path) -> Ed25519PrivateKey:
    """The agent's ed25519 key, generated once and kept in the root with mode 0600."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        write_atomic(path, pem, mode=0o600)
        return key
    loaded = serialization.load_pem_private_key(data, password=None)
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigurationError(f"{path} does not hold an ed25519 private key")
    return loaded


def public_key_pem(key: Ed25519PrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


class Agent:
    """One agent on one root folder."""

    def __init__(self, options: AgentOptions, rng: random.Random | None = None) -> None:
        self.options = options
        self.root = options.root.resolve()
        self.server = options.server.rstrip("/")
        self.rng = rng or random.Random()  # noqa: S311 (jitter, not secrecy)
        self.stop = threading.Event()
        self.state_file = StateFile(self.root)
        self.state = AgentState()
        self.client = ServerClient(self.server)
        self.waiting = False  # a waiting check-in is in flight (interrupt() may abandon it)
        # During a cycle: the desired state's ETag as of the last check-in, moved on by
        # our own reports while the server says nothing else moved it; None otherwise.
        self.known_etag: str | None = None

    # -- the run -------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped (or one cycle with ``once``). Returns the exit code.

        Raises:
            AgentError: revoked, refused, misconfigured or (with ``once``) unreachable.
        """
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        lock = FileLock(str(self.root / LOCK_FILE), timeout=0)
        try:
            lock.acquire()
        except Timeout:
            raise AnotherAgentRunning(
                f"another golive-agent is already running on {self.root} "
                f"(it holds {self.root / LOCK_FILE})"
            ) from None
        try:
            return self._run_locked()
        finally:
            lock.release()
            self.client.close()

    def interrupt(self) -> None:
        """Stop (from a signal handler): after the current step, or at once while the
        server holds a check-in (nothing else is under way then)."""
        self.stop.set()
        if self.waiting:
            raise StopWaiting

    def _run_locked(self) -> int:
        self.state = self.state_file.load()
        attempt = 0
        while not self.stop.is_set():
            try:
                self.enroll()
                pause = self.cycle()
            except StopWaiting:
                return 0
            except ServerUnavailable as unavailable:
                if self.options.once:
                    raise
                delay = backoff_delay(attempt, self.rng)
                attempt += 1
                log.warning("%s; retrying in %.1f s", unavailable.message, delay)
                self.stop.wait(delay)
                continue
            attempt = 0
            if self.options.once:
                return 0
            if pause > 0:
                self.stop.wait(jittered(pause, self.rng))
        return 0

    @property
    def interval(self) -> float:
        return self.options.poll_interval or self.state.poll_interval_seconds

    def wait_seconds(self) -> int:
        """How long the server may hold a check-in: the poll interval, in whole seconds up
        to the server's limit. 0 (plain polling) with ``once`` or an interval under 1 s."""
        if self.options.once:
            return 0
        return min(int(self.interval), MAX_WAIT_SECONDS)

    # -- enrollment ----------------------------------------------------------------------------

    def enroll(self) -> None:
        """Register once (idempotent: the same key again gets a fresh credential)."""
        key = load_or_create_key(self.root / KEY_FILE)
        if self.state.is_enrolled and self.state.server == self.server:
            self.client.credential = self.state.credential
            return
        token = self.options.enroll_token
        if not token:
            raise ConfigurationError(
                f"{self.root} is not enrolled yet: run it once with --enroll-token"
            )
        name = self.options.name or socket.gethostname()
        facts = {
            "hostname": socket.gethostname(),
            "os": platform.platform(),
            "agent_version": __version__,
        }
        answer = self.client.register(token, name, public_key_pem(key), facts)
        pinned = answer.get("tuf_root")
        if not isinstance(pinned, dict):
            raise ConfigurationError("the server sent no TUF root at enrollment")
        write_atomic(self.root / PINNED_ROOT, json.dumps(pinned).encode(), mode=0o644)
        self.state.server = self.server
        self.state.target = str(answer["target"])
        self.state.credential = str(answer["credential"])
        self.state.etag = None
        self.state.inventory_recorded = None
        interval = answer.get("poll_interval_seconds")
        if interval:
            self.state.poll_interval_seconds = float(interval)
        self.state_file.save(self.state)
        self.client.credential = self.state.credential
        log.info("enrolled as target %s of %s", self.state.target, self.server)

    def pinned_root(self) -> bytes:
        return (self.root / PINNED_ROOT).read_bytes()

    # -- one cycle -----------------------------------------------------------------------------

    def installer(self) -> Installer:
        return Installer(
            self.root,
            self.state,
            self.state_file,
            server=self.server,
            pinned_root=self.pinned_root,
            max_artifact_bytes=self.options.max_artifact_bytes,
            deliver=self.try_deliver,
        )

    def cycle(self) -> float:
        """Deliver what is owed, finish an interrupted assignment, check in, act on it.

        The check-in waits (the server holds it until something changes) unless the
        interval is under a second. Returns the seconds to pause before the next cycle:
        none after a held check-in, the poll interval after one that was not held.
        """
        self.known_etag = None
        self.deliver()
        installer = self.installer()
        if self.state.journal is not None:
            log.info("resuming assignment %s", self.state.journal.assignment_id)
            installer.resume()
            self.deliver()
        body = inventory(self.root, self.state)
        wait = self.wait_seconds()
        sent_etag = self.state.etag
        asked = time.monotonic()
        self.waiting = wait > 0
        try:
            desired = self.client.desired(self.state.etag, inventory_digest(body), wait)
        finally:
            self.waiting = False
        if desired is None:
            # Held for (about) the whole wait: ask again now. Answered at once (a server
            # that is stopping, or one that does not hold): poll at the interval.
            held = wait > 0 and time.monotonic() - asked >= wait / 2
            return 0 if held else self.interval
        self.known_etag = desired.etag
        if desired.poll_interval_seconds:
            self.state.poll_interval_seconds = desired.poll_interval_seconds
        if desired.send_inventory:
            self.send_inventory()
        for assignment in desired.assignments:
            if str(assignment.get("id")) in self.state.finished:
                continue
            problem = assignment_problem(assignment)
            if problem is not None:
                installer.refuse(assignment, problem)
                self.deliver()
                continue
            if self.stop.is_set():
                return 0
            log.info(
                "assignment %s: %s %s %s",
                assignment.get("id"),
                assignment.get("action"),
                assignment.get("component"),
                assignment.get("version"),
            )
            installer.start(assignment)
            self.deliver()
        # Saved only now that every assignment listed was carried out: a crash before
        # leaves the old ETag, and the next check-in lists them again.
        self.state.etag = self.known_etag or desired.etag
        self.known_etag = None
        self.state_file.save(self.state)
        if inventory_digest(inventory(self.root, self.state)) != self.state.inventory_recorded:
            self.send_inventory()
        # Ask again soon only after a real change: a 200 for the same ETag (the server
        # wanted the inventory again and again, say) is not a reason to ask every second.
        changed = desired.etag != sent_etag
        return AFTER_CHANGE_SECONDS if wait > 0 and changed else self.interval

    def send_inventory(self) -> None:
        body = inventory(self.root, self.state)
        answer = self.client.inventory(body)
        if answer is None:
            return
        digest = inventory_digest(body)
        if answer.get("digest") not in (None, digest):
            log.warning("the server recorded inventory digest %s, not %s", answer["digest"], digest)
        self.state.inventory_recorded = digest
        self.state_file.save(self.state)
        if body["unauthorised"]:
            log.warning(
                "current points where golive-agent did not install: %s",
                ", ".join(entry["component"] for entry in body["unauthorised"]),
            )

    def deliver(self) -> None:
        """Send the queued reports, in order, in one call; drop any the server will never
        take. Raises ServerUnavailable (the outbox keeps them) when it cannot take them now.
        """
        queued = list(self.state.outbox)
        if not queued:
            return
        delivered = self.client.reports(queued, self.known_etag)
        if delivered is None:  # not taken as one call: one by one, each judged alone
            self.known_etag = None
            self._deliver_one_by_one()
            return
        # The ETag after our own reports, when nothing else moved the desired state:
        # kept, the next check-in is held instead of answered with what we just did.
        self.known_etag = delivered.etag if self.known_etag else None
        for report, result in zip(queued, delivered.results, strict=True):
            if "error" in result:
                log.warning(
                    "the server will not take report %s of assignment %s; dropped (%s)",
                    report["state"],
                    report["assignment_id"],
                    result["error"].get("message") if isinstance(result["error"], dict) else "",
                )
        del self.state.outbox[: len(queued)]
        self.state_file.save(self.state)

    def _deliver_one_by_one(self) -> None:
        while self.state.outbox:
            report: dict[str, Any] = self.state.outbox[0]
            if not self.client.report(report):
                log.warning(
                    "the server will not take report %s of assignment %s; dropped",
                    report["state"],
                    report["assignment_id"],
                )
            self.state.outbox.pop(0)
            self.state_file.save(self.state)

    def try_deliver(self) -> None:
        """Deliver now if the server answers; otherwise the outbox keeps the reports."""
        try:
            self.deliver()
        except ServerUnavailable as unavailable:
            log.info("reports kept for later: %s", unavailable.message)
