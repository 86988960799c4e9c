"""The engine out of the server and through crashes, with real processes only: `golive
server`, `golive worker`, PostgreSQL or SQLite, and a fleet of virtual agents speaking
the agent protocol over HTTP (tests/support/virtual_fleet.py).

- Two `golive worker` processes share a large phased deployment (and small ones of one
  target a wave) on PostgreSQL behind a `golive server --no-engine`: each assignment is
  created, dispatched and executed exactly once, every wave started once, and both
  workers created some of the large one.
- The server with the engine inside is killed with SIGKILL at a random moment of a
  phased rollout to 200 virtual agents and restarted on the same data: the rollout
  completes, every target runs the new version, nothing ran twice, the audit chain holds.
"""

from __future__ import annotations

import json
import random
import signal
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from golive.agents.models import Assignment
from golive.auth.service import SYSTEM
from golive.cli.local import initialise
from golive.db import Database
from golive.deployments import service, strategies
from golive.deployments.models import Deployment
from golive.errors import InvalidInputError
from golive.settings import Settings
from tests.conftest import fresh_postgres_url
from tests.deployments.conftest import build_estate
from tests.support.crash_rollout import (
    COMPONENT,
    VERSION,
    GoliveProcess,
    add_version,
    crash_round,
    deploy,
    fleet_and_record_problems,
    read_records,
    start_server,
    wait_for_final,
)
from tests.support.postgres import PostgresCluster, free_port
from tests.support.virtual_fleet import VirtualFleet, seed_agents

BIG = [f"big-{number:04d}" for number in range(1, 251)]
SMALL = {f"s{group}": [f"s{group}-{number:02d}" for number in range(1, 13)] for group in (1, 2, 3)}
# Five waves with a bake between them: wave 5 cannot start within a second of wave 4's end.
BIG_WAVES = "1,5%,20%,50%,100%"
# One target a wave: many wave changes, each one a moment both workers race for.
SMALL_WAVES = ",".join(str(count) for count in range(1, 12))


def _wave_started(db: Database, number: int) -> set[str]:
    with db.reading() as session:
        found = session.get(Deployment, number)
        return set(found.wave_started) if found is not None else set()


def _creators(db: Database, number: int) -> Counter[str]:
    with db.reading() as session:
        return Counter(
            session.scalars(select(Assignment.created_by).where(Assignment.deployment_id == number))
        )


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting until {what}")


def _worker(home: Path, name: str, url: str, log: Path) -> GoliveProcess:
    return GoliveProcess(
        [
            "worker",
            "--home",
            str(home),
            "--name",
            name,
            "--interval",
            "0.2",
            "--no-ssh",
            "--log-format",
            "json",
        ],
        log,
        {"GOLIVE_DATABASE_URL": url},
    ).start()


def _created_per_worker(log: str) -> Counter[str]:
    """Assignments each deployment had created, per the worker's own log."""
    made: Counter[str] = Counter()
    for line in log.splitlines():
        if not line.startswith("{"):
            continue
        words = json.loads(line)["message"].split()
        if "assignment(s)" in words:  # "deployment 3: wave 2: 40 assignment(s) created in …"
            made[words[1].rstrip(":")] += int(words[words.index("assignment(s)") - 1])
    return made


@pytest.mark.slow
@pytest.mark.postgresql
def test_two_workers_share_a_large_deployment_and_dispatch_nothing_twice(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    url = fresh_postgres_url(postgres)
    home = tmp_path / "home"
    secret = initialise(Settings(home=home, database_url=url))
    assert secret is not None
    credentials = seed_agents(url, "production", BIG, {"role": "big"})
    for group, names in SMALL.items():
        credentials |= seed_agents(url, "production", names, {"role": group})
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(
        home, port, tmp_path / "server.log", {"GOLIVE_DATABASE_URL": url}, "--no-engine"
    )
    workers: dict[str, GoliveProcess] = {}
    db = Database(url)
    fleet = VirtualFleet(base, credentials, poll_interval=1.0, seed=5)
    try:
        with (
            httpx.Client(
                base_url=base, headers={"Authorization": f"Bearer {secret}"}, timeout=30
            ) as client,
            fleet.running(),
        ):
            add_version(client, COMPONENT, VERSION)
            ref = [f"{COMPONENT}@{VERSION}"]

            def small(group: str, **more: str) -> int:
                selected = {"labels": {"role": group}}
                return deploy(client, versions=ref, targets=selected, waves=SMALL_WAVES, **more)

            # The server alone, engine off: a deployment due now does not move.
            numbers = {"s1": small("s1", strategy="phased")}
            time.sleep(1.5)
            assert _wave_started(db, numbers["s1"]) == set()
            assert client.get(f"/api/v1/deployments/{numbers['s1']}").json()["state"] == "planned"

            for name in ("w1", "w2"):
                workers[name] = _worker(home, name, url, tmp_path / f"{name}.log")
            for name, process in workers.items():
                _wait(
                    lambda p=process, n=name: f"worker engine:{n} started" in p.output(),
                    60,
                    f"{name} runs",
                )
            # Both workers are ticking: these become due for both at the same moment.
            due = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
            numbers["big"] = deploy(
                client,
                versions=ref,
                targets={"labels": {"role": "big"}},
                strategy="phased",
                waves=BIG_WAVES,
                bake="1s",
                planned_start=due,
            )
            for group in ("s2", "s3"):
                numbers[group] = small(group, strategy="phased", planned_start=due)
            big = numbers["big"]

            # Until wave 4 of 5 both share the work; then the one that has done the large
            # deployment's work so far is stopped (SIGTERM), so the other must do the rest.
            _wait(lambda: "4" in _wave_started(db, big), 60, "wave 4 of the large one started")
            so_far = _creators(db, big)
            leaving = "w1" if "engine:w1" in so_far else "w2"
            assert workers[leaving].stop(timeout=20) == 0, workers[leaving].output()[-2000:]
            assert "5" not in _wave_started(db, big), f"{leaving} outlived wave 4: no hand-over"

            states = {number: wait_for_final(client, number, 60) for number in numbers.values()}
            assert states == dict.fromkeys(states, "succeeded"), states
            assert fleet.wait_until(lambda: fleet.settled, 15)
            verdict = client.get("/api/v1/audit/verify").json()
            assert verdict["ok"], verdict
        staying = "w2" if leaving == "w1" else "w1"
        assert workers[staying].stop(timeout=20) == 0, workers[staying].output()[-2000:]
    finally:
        for process in workers.values():
            process.stop()
        server.stop()
        db.dispose()

    groups = {"big": BIG, **SMALL}
    for key, number in numbers.items():
        records = read_records(url, number)
        problems = fleet_and_record_problems(fleet, records, set(groups[key]), VERSION)
        assert problems == [], f"deployment {key} ({number}): {problems}"
    creators = read_records(url, big).creators
    # Both workers created assignments of the large deployment.
    assert set(creators) == {"engine:w1", "engine:w2"}, creators
    assert sum(creators.values()) == len(BIG)
    logs = {name: process.output() for name, process in workers.items()}
    for name, text in logs.items():
        assert _created_per_worker(text)[str(big)] == creators[f"engine:{name}"]
        assert "SIGTERM: finishing the step under way, then stopping" in text
        assert f"worker engine:{name} stopped" in text
    print(f"\nlarge deployment, assignments created per worker: {dict(creators)}")


@pytest.mark.slow
def test_the_server_killed_mid_rollout_resumes_it_without_running_anything_twice(
    tmp_path: Path,
) -> None:
    seed = random.randrange(2**32)
    result = crash_round(tmp_path, seed=seed, targets=200, timeout=90)
    where = (
        f"seed {seed}: killed {result.kill_after_seconds:.2f} s into the rollout with "
        f"{result.done_at_kill}/200 targets done, down {result.down_seconds:.2f} s"
    )
    print(f"\n{where}; the rollout took {result.elapsed_seconds:.1f} s")
    assert result.killed_mid_rollout, where
    assert result.state == "succeeded", (where, result.problems)
    assert result.executions == 200, where
    assert result.audit_api["ok"], (where, result.audit_api)
    assert result.audit_cli_code == 0, (where, result.audit_cli)
    assert "Audit chain intact" in result.audit_cli, where
    assert result.problems == [], where


@pytest.mark.slow
def test_a_worker_alone_on_sqlite_deploys_and_stops_on_sigint(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    initialise(settings)
    db = Database(settings.database_url)
    try:
        with db.writing() as session:
            build_estate(session)
            number = service.create_deployment(
                session,
                SYSTEM,
                refs=[("shop", "2")],
                environment="production",
                params=strategies.parse_params("big_bang"),
            ).id
        worker = GoliveProcess(
            ["worker", "--home", str(home), "--name", "solo", "--interval", "0.1"],
            tmp_path / "worker.log",
        ).start()
        try:
            _wait(lambda: sum(_creators(db, number).values()) == 4, 30, "the worker deployed")
            assert _creators(db, number) == {"engine:solo": 4}
            assert worker.process is not None
            worker.process.send_signal(signal.SIGINT)
            assert worker.process.wait(timeout=20) == 0
        finally:
            worker.stop()
    finally:
        db.dispose()
    log = worker.output()
    assert "worker engine:solo started" in log
    assert f"deployment {number}: wave 1: 4 assignment(s) created" in log
    assert "SIGINT: finishing the step under way, then stopping" in log
    assert "worker engine:solo stopped" in log


def test_the_engine_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOLIVE_ENGINE", raising=False)
    assert Settings.from_env(home=Path("x")).engine is True
    assert Settings.from_env(home=Path("x"), engine=False).engine is False


@pytest.mark.parametrize(("text", "expected"), [("off", False), ("0", False), ("on", True)])
def test_golive_engine_switches_the_servers_engine(
    monkeypatch: pytest.MonkeyPatch, text: str, expected: bool
) -> None:
    monkeypatch.setenv("GOLIVE_ENGINE", text)
    assert Settings.from_env(home=Path("x")).engine is expected
    assert Settings.from_env(home=Path("x"), engine=not expected).engine is not expected


def test_a_bad_golive_engine_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOLIVE_ENGINE", "sometimes")
    with pytest.raises(InvalidInputError, match="GOLIVE_ENGINE must be on or off"):
        Settings.from_env(home=Path("x"))
