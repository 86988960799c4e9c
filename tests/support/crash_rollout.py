"""golive server and worker processes, and one crash round: a phased rollout to virtual
agents during which the server (engine inside) is killed with SIGKILL and restarted.

``crash_round`` is what tests/deployments/test_worker_crash.py runs once and
bench/crash_soak.py runs again and again. It starts and removes everything itself
except the folder it is given, and returns what it saw and what it found wrong.
"""

from __future__ import annotations

import math
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import httpx
from sqlalchemy import func, select

from golive.agents.models import Assignment, AssignmentEvent, Installed
from golive.audit.chain import AuditEvent
from golive.cli.local import initialise
from golive.db import Database
from golive.deployments.models import DeploymentEvent
from golive.inventory.models import Target
from golive.settings import Settings
from tests.support.postgres import free_port
from tests.support.virtual_fleet import VirtualFleet, seed_agents

GOLIVE = [sys.executable, "-m", "golive"]
ENVIRONMENT = "production"
COMPONENT = "shop"
VERSION = "2.0.0"
WAVES = "1,10%,50%,100%"  # the kill moment is chosen per wave: keep crash_round in step
FINAL = {"succeeded", "failed", "rolled_back", "aborted"}


def clean_environment() -> dict[str, str]:
    """This process's environment without GOLIVE_* settings, which would leak into children."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GOLIVE_")} | {"COLUMNS": "200"}


class GoliveProcess:
    """A ``golive server`` or ``golive worker`` child process, its output in a log file."""

    def __init__(self, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.args = args
        self.log_path = log
        self.env = {**clean_environment(), **(env or {})}
        self.process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    def start(self) -> GoliveProcess:
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [*GOLIVE, *self.args], stdout=self._log, stderr=subprocess.STDOUT, env=self.env
        )
        return self

    @property
    def pid(self) -> int:
        if self.process is None:
            raise RuntimeError("not started")
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: no shutdown, no cleanup, like a machine losing power under the process."""
        if self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self._close_log()

    def stop(self, timeout: float = 20) -> int | None:
        """SIGTERM, then SIGKILL after ``timeout``; the exit code (None if never started)."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._close_log()
        return self.process.returncode

    def output(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def start_server(
    home: Path, port: int, log: Path, env: dict[str, str] | None = None, *extra: str
) -> GoliveProcess:
    """``golive server`` on ``port``, once its health endpoint answers."""
    server = GoliveProcess(
        ["server", "--home", str(home), "--port", str(port), *extra], log, env
    ).start()
    url = f"http://127.0.0.1:{port}/api/v1/health"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if not server.alive():
            raise RuntimeError(f"golive server stopped at start:\n{server.output()[-3000:]}")
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"golive server did not answer on port {port}:\n{server.output()[-3000:]}")


def add_version(
    client: httpx.Client, component: str, version: str, content: bytes | None = None
) -> str:
    """Register ``component`` (if new) and an approved ``version`` over the API (a small
    made-up build unless ``content`` is given); its digest."""
    made = client.post("/api/v1/components", json={"name": component, "kind": "software"})
    if made.status_code not in (201, 409):
        raise RuntimeError(f"creating component {component}: {made.text}")
    base = f"/api/v1/components/{component}/versions"
    added = client.post(
        base,
        params={"version": version, "filename": f"{component}-{version}.tar.gz"},
        content=content if content is not None else f"{component} {version}\n".encode() * 64,
        headers={"Content-Type": "application/octet-stream"},
    )
    if added.status_code != 201:
        raise RuntimeError(f"adding {component}@{version}: {added.text}")
    approved = client.post(f"{base}/{version}/approve")
    if approved.status_code != 200:
        raise RuntimeError(f"approving {component}@{version}: {approved.text}")
    digest: str = added.json()["digest"]
    return digest


def deploy(client: httpx.Client, **body: Any) -> int:
    created = client.post("/api/v1/deployments", json={"environment": ENVIRONMENT, **body})
    if created.status_code != 201:
        raise RuntimeError(f"creating the deployment: {created.text}")
    number: int = created.json()["id"]
    return number


def wait_for_final(client: httpx.Client, number: int, timeout: float) -> str:
    """Poll the deployment until it ends (or ``timeout``); its last state seen."""
    deadline = time.monotonic() + timeout
    state = "unknown"
    while time.monotonic() < deadline:
        try:
            answer = client.get(f"/api/v1/deployments/{number}")
            if answer.status_code == 200:
                state = str(answer.json()["state"])
                if state in FINAL:
                    return state
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    return state


# --- what the records say ----------------------------------------------------------------


@dataclass
class Records:
    """One deployment's records, read straight from the database."""

    assignments_per_target: Counter[str]
    dispatches_per_assignment: Counter[int]
    creations_per_assignment: Counter[int]  # audit events assignment.create
    creators: Counter[str]  # assignment.created_by
    # The engine's deployment events ("wave_started 2", "running", …): each exactly once.
    engine_events: Counter[str]
    refused: int  # deployment events: an assignment the engine could not create
    installed: dict[str, str]  # target → version recorded as installed


def read_records(database_url: str, deployment_id: int) -> Records:
    from golive.media.models import Version

    db = Database(database_url)
    try:
        with db.reading() as session:
            rows = session.execute(
                select(Assignment.id, Target.name, Assignment.created_by)
                .join(Target, Target.id == Assignment.target_id)
                .where(Assignment.deployment_id == deployment_id)
            ).all()
            ids = [row.id for row in rows]
            dispatched = session.execute(
                select(AssignmentEvent.assignment_id, func.count())
                .where(
                    AssignmentEvent.assignment_id.in_(ids),
                    AssignmentEvent.state == "dispatched",
                )
                .group_by(AssignmentEvent.assignment_id)
            ).all()
            created = session.execute(
                select(AuditEvent.subject_id, func.count())
                .where(
                    AuditEvent.action == "assignment.create",
                    AuditEvent.subject_id.in_([str(i) for i in ids]),
                )
                .group_by(AuditEvent.subject_id)
            ).all()
            events = session.scalars(
                select(DeploymentEvent).where(DeploymentEvent.deployment_id == deployment_id)
            ).all()
            installed = session.execute(
                select(Target.name, Version.version)
                .join(Installed, Installed.target_id == Target.id)
                .join(Version, Version.id == Installed.version_id)
            ).all()
    finally:
        db.dispose()
    return Records(
        assignments_per_target=Counter(row.name for row in rows),
        dispatches_per_assignment=Counter({i: 0 for i in ids} | {int(i): n for i, n in dispatched}),
        creations_per_assignment=Counter({int(i): n for i, n in created}),
        creators=Counter(row.created_by for row in rows),
        engine_events=Counter(
            f"{event.kind} {event.detail['wave']}" if "wave" in event.detail else event.kind
            for event in events
            if event.kind not in ("created", "refused")
        ),
        refused=sum(1 for event in events if event.kind == "refused"),
        installed={name: version for name, version in installed},
    )


def one_each(counts: Counter[Any], expected: set[Any], what: str) -> list[str]:
    """Problems unless every key of ``expected`` is counted exactly once (and no other)."""
    problems = []
    twice = sorted(str(key) for key, n in counts.items() if n > 1)
    missing = sorted(str(key) for key in expected if counts.get(key, 0) == 0)
    extra = sorted(str(key) for key in counts if key not in expected)
    if twice:
        problems.append(f"{what} more than once: {', '.join(twice[:10])}")
    if missing:
        problems.append(f"{what} never: {', '.join(missing[:10])}")
    if extra:
        problems.append(f"{what} for unexpected keys: {', '.join(extra[:10])}")
    return problems


def fleet_and_record_problems(
    fleet: VirtualFleet, records: Records, names: set[str], version: str
) -> list[str]:
    """Everything that must hold once a rollout of ``version`` to ``names`` has ended."""
    problems: list[str] = []
    duplicates = fleet.duplicates()
    if duplicates:
        problems.append(f"assignments executed twice by the agents: {duplicates[:10]}")
    problems += one_each(
        Counter(e.target for e in fleet.executions() if e.target in names),
        names,
        "an agent executed an assignment",
    )
    problems += one_each(records.assignments_per_target, names, "the engine assigned a target")
    for assignment, count in records.dispatches_per_assignment.items():
        if count != 1:
            problems.append(f"assignment {assignment} was dispatched {count} time(s)")
    problems += one_each(
        records.creations_per_assignment,
        set(records.dispatches_per_assignment),
        "the audit trail records the creation of assignment",
    )
    problems += one_each(records.engine_events, set(records.engine_events), "the engine recorded")
    if records.refused:
        problems.append(f"{records.refused} assignment(s) refused by the engine")
    wrong_records = sorted(n for n in names if records.installed.get(n) != version)
    if wrong_records:
        problems.append(f"records do not show {version} on: {', '.join(wrong_records[:10])}")
    applied = fleet.applied_versions(COMPONENT)
    wrong_agents = sorted(n for n in names if applied.get(n) != version)
    if wrong_agents:
        problems.append(f"agents did not apply {version} on: {', '.join(wrong_agents[:10])}")
    if fleet.refused:
        problems.append(f"reports refused: {fleet.refused[:5]}")
    if fleet.relisted:
        problems.append(f"finished assignments offered again: {fleet.relisted[:5]}")
    if fleet.revoked:
        problems.append(f"agents revoked: {fleet.revoked[:5]}")
    return problems


# --- one crash round -----------------------------------------------------------------------


@dataclass
class RoundResult:
    seed: int
    targets: int
    deployment_id: int = 0
    kill_after_seconds: float = 0.0  # after the deployment was created
    done_at_kill: int = 0  # targets whose agent had reported succeeded when the server died
    down_seconds: float = 0.0
    elapsed_seconds: float = 0.0  # from the deployment's creation to its end
    state: str = "unknown"
    audit_api: dict[str, Any] = field(default_factory=dict)
    audit_cli: str = ""
    audit_cli_code: int | None = None
    executions: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.problems

    @property
    def killed_mid_rollout(self) -> bool:
        return self.done_at_kill < self.targets


def crash_round(
    work: Path,
    *,
    seed: int,
    targets: int = 200,
    database_url: str | None = None,
    timeout: float = 45.0,
    poll_interval: float = 1.0,
) -> RoundResult:
    """A phased rollout to ``targets`` virtual agents; SIGKILL the server at a random
    moment (``seed``), restart it on the same data and check the outcome."""
    rng = random.Random(seed)
    result = RoundResult(seed=seed, targets=targets)
    home = work / "home"
    settings = Settings(home=home, **({"database_url": database_url} if database_url else {}))
    secret = initialise(settings)
    token = secret if secret is not None else settings.admin_token_path.read_text().strip()
    env = {"GOLIVE_DATABASE_URL": settings.database_url, "GOLIVE_LOG_FORMAT": "human"}
    names = [f"vm-{number:04d}" for number in range(1, targets + 1)]
    credentials = seed_agents(settings.database_url, ENVIRONMENT, names, {"role": "web"})
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = work / "server.log"
    server = start_server(home, port, log, env)
    fleet = VirtualFleet(url, credentials, poll_interval=poll_interval, seed=seed)
    try:
        with (
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=30
            ) as client,
            fleet.running(),
        ):
            add_version(client, COMPONENT, VERSION)
            created = time.monotonic()
            result.deployment_id = deploy(
                client, versions=[f"{COMPONENT}@{VERSION}"], strategy="phased", waves=WAVES
            )
            # The kill moment: in a wave chosen at random, after a random number of its
            # targets finished, plus up to 0.5 s (never after the last agent finished).
            done_before = [0, 1, math.ceil(targets * 0.1), math.ceil(targets * 0.5)]
            wave = rng.randrange(len(done_before))
            ends = [*done_before[1:], targets * 9 // 10]
            threshold = rng.randrange(done_before[wave], max(ends[wave], done_before[wave] + 1))
            fleet.wait_until(lambda: fleet.succeeded >= threshold, timeout)
            fleet.wait_until(lambda: fleet.succeeded >= targets - 3, rng.uniform(0, 0.5))
            result.done_at_kill = fleet.succeeded
            result.kill_after_seconds = time.monotonic() - created
            server.kill()
            result.down_seconds = rng.uniform(0, 1.0)
            time.sleep(result.down_seconds)
            server = start_server(home, port, log, env)
            left = timeout - (time.monotonic() - created)
            result.state = wait_for_final(client, result.deployment_id, max(left, 1.0))
            result.elapsed_seconds = time.monotonic() - created
            if not fleet.wait_until(lambda: fleet.settled, 15):
                result.problems.append("the agents still had reports or inventory to send")
            result.audit_api = client.get("/api/v1/audit/verify").json()
            verdict = subprocess.run(
                [*GOLIVE, "audit", "verify"],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
                env={**clean_environment(), "GOLIVE_URL": url, "GOLIVE_TOKEN": token},
            )
            result.audit_cli_code = verdict.returncode
            result.audit_cli = (verdict.stdout + verdict.stderr).strip()
    finally:
        server.stop()
    result.executions = len(fleet.executions())
    if result.state != "succeeded":
        result.problems.append(f"the deployment ended {result.state}, not succeeded")
    if not result.audit_api.get("ok"):
        result.problems.append(f"the audit API found the chain broken: {result.audit_api}")
    if result.audit_cli_code != 0:
        result.problems.append(f"golive audit verify failed: {result.audit_cli}")
    records = read_records(settings.database_url, result.deployment_id)
    result.problems += fleet_and_record_problems(fleet, records, set(names), VERSION)
    return result
