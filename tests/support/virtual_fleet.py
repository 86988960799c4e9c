"""Virtual agents: many targets in one asyncio process, speaking the real agent protocol
over HTTP (docs/agent-protocol.md) to a real golive server.

Each virtual agent does what golive-agent does, minus the files: it checks in with its
ETag and inventory digest, takes on each listed assignment it has not taken before (its
journal), reports downloading → installing → verifying → succeeded through an outbox
delivered in order (kept while the server is away, retried with jittered backoff),
records the version it "applied", and posts its inventory when that changed. It
records every assignment it executes, so a test can prove that none ran twice.

``seed_agents`` enrolls targets straight in the records, as a registration would leave
them. Benchmarks import this module after putting the repository root on ``sys.path``.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from golive.agents.rules import inventory_digest

DESIRED = "/api/v1/agent/desired"
REPORT = "/api/v1/agent/report"
REPORTS = "/api/v1/agent/reports"
INVENTORY = "/api/v1/agent/inventory"
# What an agent reports on the way to succeeded (docs/agent-protocol.md, "Reports").
ON_THE_WAY = ("downloading", "installing", "verifying")


class Unavailable(Exception):
    """The server did not answer: down, restarting, or a 5xx."""


class Revoked(Exception):
    """401: the agent's credential is not (or no longer) valid."""


@dataclass(frozen=True)
class Execution:
    """One assignment a virtual agent carried out."""

    assignment_id: int
    target: str
    action: str
    component: str
    version: str


@dataclass
class VirtualAgent:
    name: str
    credential: str
    etag: str | None = None
    # component → {"version": …, "digest": …}: what this target runs now.
    applied: dict[str, dict[str, str]] = field(default_factory=dict)
    executed: list[Execution] = field(default_factory=list)
    taken: set[int] = field(default_factory=set)
    finished: set[int] = field(default_factory=set)  # the server took the final report
    outbox: list[dict[str, Any]] = field(default_factory=list)
    inventory_recorded: str | None = None

    def inventory(self) -> dict[str, Any]:
        installed = [
            {
                "component": component,
                "version": item["version"],
                "digest": item["digest"],
                "release": f"{item['version']}-{item['digest'][:8]}",
            }
            for component, item in sorted(self.applied.items())
        ]
        return {"installed": installed, "unauthorised": []}

    @property
    def settled(self) -> bool:
        """Nothing left to tell the server."""
        return not self.outbox and self.inventory_recorded == inventory_digest(self.inventory())


class VirtualFleet:
    """Virtual agents against ``url`` (which may be changed while they run).

    Args:
        credentials: target name → ``gla_`` credential.
        poll_interval: seconds between check-ins (±20 % jitter, like golive-agent).
        step_seconds: the range of time each install step takes.
        max_backoff: the longest wait while the server is away (golive-agent: 300 s).
        install: called with the target's name and the assignment where golive-agent
            installs (after its installing report), for a benchmark's stand-in work.
        wait: when above 0, check-ins ask the server to hold them up to this many
            seconds until something changes (``?wait=``) and follow each other at once.
        batch: deliver an assignment's reports and the new inventory in one call to
            ``/agent/reports`` once it is done (an install that takes no time), instead
            of one call per report and one for the inventory.
    """

    def __init__(
        self,
        url: str,
        credentials: Mapping[str, str],
        *,
        poll_interval: float = 1.0,
        step_seconds: tuple[float, float] = (0.02, 0.1),
        max_backoff: float = 1.0,
        seed: int | None = None,
        connections: int = 64,
        install: Callable[[str, Mapping[str, Any]], None] | None = None,
        wait: float = 0.0,
        batch: bool = False,
    ) -> None:
        self.url = url.rstrip("/")
        self.agents = {name: VirtualAgent(name, secret) for name, secret in credentials.items()}
        self.poll_interval = poll_interval
        self.step_seconds = step_seconds
        self.max_backoff = max_backoff
        self.rng = random.Random(seed)
        self.connections = connections
        self.install = install
        self.wait = wait
        self.batch = batch
        self.succeeded = 0  # succeeded reports the server took
        self.refused: list[str] = []  # reports the server would not take (404, 409, 422)
        self.revoked: list[str] = []
        # Finished assignments the server listed again (an agent would not run them twice;
        # a server that offers them again has lost what it was told).
        self.relisted: list[str] = []
        self.unavailable = Counter[str]()  # what went wrong while the server was away
        self._session: aiohttp.ClientSession | None = None

    # -- what the fleet did ---------------------------------------------------------

    def executions(self) -> list[Execution]:
        return [e for agent in self.agents.values() for e in agent.executed]

    def duplicates(self) -> list[int]:
        """Assignment ids executed more than once (anywhere in the fleet)."""
        seen = Counter(e.assignment_id for e in self.executions())
        return sorted(i for i, count in seen.items() if count > 1)

    def applied_versions(self, component: str) -> dict[str, str | None]:
        return {
            name: (agent.applied.get(component) or {}).get("version")
            for name, agent in self.agents.items()
        }

    @property
    def settled(self) -> bool:
        return all(agent.settled for agent in self.agents.values())

    # -- running ----------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Run every agent until ``stop`` is set."""
        # Idle connections are dropped before the server's keep-alive (uvicorn: 5 s) ends
        # them: a request sent on one the server is closing fails for nothing.
        connector = aiohttp.TCPConnector(limit=self.connections, keepalive_timeout=4)
        timeout = aiohttp.ClientTimeout(total=15 + self.wait)
        async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
            self._session = session
            lives = [asyncio.create_task(self._live(a, stop)) for a in self.agents.values()]
            try:
                done = asyncio.ensure_future(asyncio.gather(*lives))
                stopped = asyncio.ensure_future(stop.wait())
                await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
                # Stopped: calls under way (a check-in held for ?wait=) end now, not when
                # the server answers them.
                for life in lives:
                    life.cancel()
                stopped.cancel()
                ended = await asyncio.gather(*lives, return_exceptions=True)
                with suppress(asyncio.CancelledError, Exception):
                    done.result()  # retrieved: reported through ``ended``
                failures = [e for e in ended if isinstance(e, Exception)]
                if failures:
                    raise failures[0]
            finally:
                self._session = None

    @contextmanager
    def running(self) -> Iterator[VirtualFleet]:
        """Run the fleet in a thread of its own (with its own event loop) for a ``with``."""
        loop = asyncio.new_event_loop()
        stop = asyncio.Event()
        failure: list[BaseException] = []

        def main() -> None:
            try:
                loop.run_until_complete(self.run(stop))
            except BaseException as exc:  # reported when the block ends
                failure.append(exc)
            finally:
                loop.close()

        thread = threading.Thread(target=main, name="virtual-fleet", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            loop.call_soon_threadsafe(stop.set)
            thread.join(timeout=30)
        if failure:
            raise RuntimeError("the virtual fleet failed") from failure[0]

    def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Poll ``condition()`` (from another thread) until it is true or ``timeout`` passes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if condition():
                return True
            time.sleep(0.01)
        return bool(condition())

    # -- one agent --------------------------------------------------------------------

    async def _live(self, agent: VirtualAgent, stop: asyncio.Event) -> None:
        await self._pause(stop, self.rng.uniform(0, self.poll_interval))  # not all at once
        attempt = 0
        while not stop.is_set():
            try:
                await self._cycle(agent)
            except Unavailable as problem:
                self.unavailable[str(problem)] += 1
                attempt += 1
                # golive-agent: exponential backoff with full jitter, capped.
                await self._pause(
                    stop, self.rng.uniform(0, min(self.max_backoff, 0.05 * 2**attempt))
                )
                continue
            except Revoked as problem:
                self.revoked.append(f"{agent.name}: {problem}")
                return
            attempt = 0
            if self.wait <= 0:
                await self._pause(stop, self.poll_interval * self.rng.uniform(0.8, 1.2))

    @staticmethod
    async def _pause(stop: asyncio.Event, seconds: float) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=seconds)

    async def _cycle(self, agent: VirtualAgent) -> None:
        await self._deliver(agent)
        desired = await self._check_in(agent)
        if desired is not None:
            # Taken first: a reports answer may move it on while the assignments run.
            agent.etag = str(desired["etag"])
            for assignment in desired["assignments"]:
                number = int(assignment["id"])
                if number in agent.finished:
                    self.relisted.append(f"{agent.name}: assignment {number}")
                if number in agent.taken:
                    continue  # under way or done: its reports are in the outbox or delivered
                await self._execute(agent, assignment)
        if agent.inventory_recorded != inventory_digest(agent.inventory()):
            await self._send_inventory(agent)

    async def _execute(self, agent: VirtualAgent, assignment: Mapping[str, Any]) -> None:
        number = int(assignment["id"])
        # The journal first, as golive-agent's: a retry never starts the same work again.
        agent.taken.add(number)
        agent.executed.append(
            Execution(
                number,
                agent.name,
                str(assignment["action"]),
                str(assignment["component"]),
                str(assignment["version"]),
            )
        )
        for state in ON_THE_WAY:
            agent.outbox.append(_report(number, state))
            if not self.batch:
                await self._try_deliver(agent)
            if state == "installing" and self.install is not None:
                self.install(agent.name, assignment)
            await asyncio.sleep(self.rng.uniform(*self.step_seconds))
        component = str(assignment["component"])
        if assignment["action"] == "remove":
            agent.applied.pop(component, None)
        else:
            agent.applied[component] = {
                "version": str(assignment["version"]),
                "digest": str(assignment["digest"]),
            }
        agent.outbox.append(_report(number, "succeeded"))
        await self._try_deliver(agent)

    # -- the protocol's calls -----------------------------------------------------------

    def _headers(self, agent: VirtualAgent) -> dict[str, str]:
        return {"Authorization": f"Bearer {agent.credential}"}

    async def _check_in(self, agent: VirtualAgent) -> dict[str, Any] | None:
        headers = self._headers(agent)
        headers["X-Golive-Inventory"] = inventory_digest(agent.inventory())
        if agent.etag is not None:
            headers["If-None-Match"] = agent.etag
        path = f"{DESIRED}?wait={self.wait:g}" if self.wait > 0 else DESIRED
        status, body = await self._call("GET", path, agent, headers=headers)
        if status == 304:
            return None
        if status != 200 or not isinstance(body, dict):
            raise Unavailable(f"check-in answered {status}")
        return body

    async def _deliver(self, agent: VirtualAgent) -> None:
        """Send the outbox in order; stop (raising Unavailable) at the first failure."""
        if self.batch:
            await self._deliver_batch(agent)
            return
        while agent.outbox:
            report = agent.outbox[0]
            status, body = await self._call(
                "POST", REPORT, agent, headers=self._headers(agent), json=report
            )
            if status == 200:
                if report["state"] == "succeeded":
                    self.succeeded += 1
                    agent.finished.add(int(report["assignment_id"]))
            elif status in (404, 409, 422):
                self.refused.append(
                    f"{agent.name}: report {report['state']} of assignment "
                    f"{report['assignment_id']} answered {status}: {body}"
                )
            else:
                raise Unavailable(f"report answered {status}")
            agent.outbox.pop(0)

    async def _deliver_batch(self, agent: VirtualAgent) -> None:
        """The outbox and the inventory (when it changed) in one call to /agent/reports."""
        inventory = agent.inventory()
        digest = inventory_digest(inventory)
        if not agent.outbox and agent.inventory_recorded == digest:
            return
        sent = list(agent.outbox)
        body: dict[str, Any] = {"reports": sent, "etag": agent.etag}
        if agent.inventory_recorded != digest:
            body["inventory"] = inventory
        status, answer = await self._call(
            "POST", REPORTS, agent, headers=self._headers(agent), json=body
        )
        if status != 200 or not isinstance(answer, dict):
            raise Unavailable(f"reports answered {status}")
        for report, result in zip(sent, answer["results"], strict=True):
            if "error" in result:
                self.refused.append(
                    f"{agent.name}: report {report['state']} of assignment "
                    f"{report['assignment_id']} refused: {result['error']}"
                )
            elif report["state"] == "succeeded":
                self.succeeded += 1
                agent.finished.add(int(report["assignment_id"]))
        del agent.outbox[: len(sent)]
        if answer.get("inventory_digest") == digest:
            agent.inventory_recorded = digest
        if answer.get("etag"):
            agent.etag = str(answer["etag"])

    async def _try_deliver(self, agent: VirtualAgent) -> None:
        try:
            await self._deliver(agent)
        except Unavailable as problem:
            self.unavailable[str(problem)] += 1  # the outbox keeps the reports

    async def _send_inventory(self, agent: VirtualAgent) -> None:
        body = agent.inventory()
        status, _ = await self._call(
            "POST", INVENTORY, agent, headers=self._headers(agent), json=body
        )
        if status != 200:
            raise Unavailable(f"inventory answered {status}")
        agent.inventory_recorded = inventory_digest(body)

    async def _call(
        self,
        method: str,
        path: str,
        agent: VirtualAgent,
        *,
        headers: dict[str, str],
        json: Any = None,
    ) -> tuple[int, Any]:
        if self._session is None:
            raise RuntimeError("the fleet is not running")
        try:
            async with self._session.request(
                method, self.url + path, headers=headers, json=json
            ) as answer:
                status = answer.status
                if status == 401:
                    raise Revoked(await answer.text())
                if status >= 500:
                    raise Unavailable(f"{path} answered {status}")
                if status == 200:
                    return status, await answer.json()
                return status, await answer.text()
        except (aiohttp.ClientError, TimeoutError) as problem:
            raise Unavailable(type(problem).__name__) from None


def _report(assignment_id: int, state: str) -> dict[str, Any]:
    return {"assignment_id": assignment_id, "state": state, "at": datetime.now(UTC).isoformat()}


# --- enrollment, straight in the records -------------------------------------------------


def seed_agents(
    database_url: str,
    environment: str,
    names: Sequence[str],
    labels: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Enroll ``names`` into ``environment`` (created when missing) with ``labels``, as
    ``POST /api/v1/agent/register`` would; return target name → credential."""
    from golive.agents import service
    from golive.agents.schemas import EnrollmentTokenCreate, Registration
    from golive.auth.service import SYSTEM
    from golive.db import Database
    from golive.errors import NotFoundError
    from golive.inventory.schemas import EnvironmentCreate
    from golive.inventory.service import create_environment, get_environment

    public = (
        Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    db = Database(database_url)
    try:
        with db.writing() as session:
            try:
                get_environment(session, environment)
            except NotFoundError:
                create_environment(session, SYSTEM, EnvironmentCreate(name=environment))
            token, _ = service.create_enrollment_token(
                session,
                SYSTEM,
                EnrollmentTokenCreate(environment=environment, labels=dict(labels or {})),
            )
            token_id = token.id
        credentials: dict[str, str] = {}
        for start in range(0, len(names), 250):
            with db.writing() as session:
                for name in names[start : start + 250]:
                    spec = Registration(name=name, public_key=public)
                    credentials[name] = service.register_agent(session, token_id, spec).credential
        return credentials
    finally:
        db.dispose()
