"""Rollout benchmark: a phased rollout (waves 1%, 10%, 50%, 100%, no bake) to 10,000
virtual agents over real HTTP, next to `ansible-playbook` doing the same per-target work
on 200 local hosts, in the same run.

Run: .venv/bin/python bench/rollout.py [--targets 10000] [--ansible-hosts 200]
                                       [--wait 25] [--database-url postgresql://…]

golive: it makes its own data folder, seeds the agents straight in the records (as
bench/checkin.py; enrollment is not what is measured), starts `golive server` (engine
inside) on a free loopback port, lets the virtual agents (tests/support/virtual_fleet.py,
aiohttp, many connections) check in until their inventories are recorded, then creates
the component, adds and approves a 1 MB version and starts the deployment through the
API. The agents wait in their check-ins (`?wait=`: the server holds an unchanged
check-in and answers when the target's desired state moves), take their assignment,
and deliver their reports (downloading, installing, verifying, succeeded) with their
new inventory in one call to /agent/reports, all through the real agent protocol. At
"installing" each writes a small file into its own folder's releases/<version>/ and
switches `current` to it (os.replace of a symlink); it does not download the 1 MB
artifact or verify its signature. The clock runs from the deployment's creation to the
deployment recorded succeeded. Afterwards the records are checked: every target assigned,
dispatched and audited exactly once, and none executed twice.

Ansible: an inventory of 200 hosts, each `ansible_connection=local` with a folder of its
own; the playbook copies a 1 MB file into releases/v1 and points `current` at it, with
forks 10 (no fact gathering).

Goals (issue 5, 2 cores): 10,000 targets at 100 % within 30 s, and golive at least 100x
Ansible's speed per target. SQLite in the data folder by default; with --database-url (a
PostgreSQL server whose user may create databases) a fresh database there, dropped at the
end. Everything is removed at the end.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
WAVES = "1%,10%,50%,100%"
ARTIFACT_BYTES = 1024 * 1024
AGENT_FILE_BYTES = 1024
PLAYBOOK = """\
- hosts: all
  gather_facts: false
  tasks:
    - name: release folder
      ansible.builtin.file:
        path: "{{ target_dir }}/releases/v1"
        state: directory
    - name: the release (1 MB)
      ansible.builtin.copy:
        src: "{{ artifact }}"
        dest: "{{ target_dir }}/releases/v1/app.bin"
    - name: switch current to the release
      ansible.builtin.file:
        src: "{{ target_dir }}/releases/v1"
        dest: "{{ target_dir }}/current"
        state: link
        force: true
"""


# --- the machine's load ------------------------------------------------------------------


def _busy_ticks() -> int:
    """Clock ticks all cores spent busy since boot (/proc/stat)."""
    fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(f) for f in fields[:8])
    return user + nice + system + irq + softirq + steal


def _process_ticks(pid: int) -> int:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return 0
    return int(fields[11]) + int(fields[12])  # utime, stime


@dataclass
class Load:
    """CPU used while something ran: by this benchmark's processes and by everything else."""

    seconds: float
    ours: float  # core-seconds: this process, its children and the watched ones
    watched: float  # core-seconds of the watched processes (the server)
    others: float  # core-seconds
    load_before: float
    load_after: float

    def line(self) -> str:
        watched = f" ({self.watched / self.seconds:.2f} golive's)" if self.watched else ""
        return (
            f"{self.ours / self.seconds:.2f} cores by the benchmark's processes{watched}, "
            f"{max(self.others, 0) / self.seconds:.2f} by other processes; "
            f"1-min load average {self.load_before:.2f} -> {self.load_after:.2f}"
        )


class LoadWatch:
    """Measures machine CPU against this process, its children and ``pids``."""

    def __init__(self, pids: list[int]) -> None:
        self.pids = pids
        self.tick = os.sysconf("SC_CLK_TCK")

    def _watched(self) -> float:
        return sum(_process_ticks(pid) for pid in self.pids) / self.tick

    def _ours(self) -> float:
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        used = own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime
        return used + self._watched()

    def __enter__(self) -> LoadWatch:
        self.began = time.perf_counter()
        self.busy = _busy_ticks() / self.tick
        self.ours = self._ours()
        self.watched = self._watched()
        self.load_before = os.getloadavg()[0]
        return self

    def __exit__(self, *_: object) -> None:
        seconds = time.perf_counter() - self.began
        busy = _busy_ticks() / self.tick - self.busy
        ours = self._ours() - self.ours
        watched = self._watched() - self.watched
        self.result = Load(
            seconds, ours, watched, busy - ours, self.load_before, os.getloadavg()[0]
        )


# --- golive ----------------------------------------------------------------------------------


def fresh_postgres(server_url: str | None, name: str) -> str | None:
    if server_url is None:
        return None
    from crash_soak import fresh_database  # the crash soak's throwaway database, same rules

    return fresh_database(server_url, name)


def as_running(database_url: str, fleet: Any) -> None:
    """Leave the seeded agents as a fleet that has been running a while: each has
    reported its (empty) inventory and holds its current ETag, so its next check-in is
    a 304. Straight in the records, like the seeding."""
    from sqlalchemy import select, update

    from golive.agents.models import AgentState
    from golive.agents.rules import etag, inventory_digest
    from golive.db import Database
    from golive.inventory.models import Target

    empty = {"installed": [], "unauthorised": []}
    digest = inventory_digest(empty)
    db = Database(database_url)
    try:
        with db.writing() as session:
            session.execute(update(AgentState).values(inventory=empty, inventory_digest=digest))
            rows = session.execute(
                select(Target.name, Target.id, AgentState.desired_generation).join(
                    AgentState, AgentState.target_id == Target.id
                )
            ).all()
    finally:
        db.dispose()
    for name, target_id, generation in rows:
        agent = fleet.agents.get(name)
        if agent is not None:
            agent.etag = etag(target_id, generation)
            agent.inventory_recorded = digest


def release_writer(root: Path) -> Any:
    """What a virtual agent does at install: a small file into its own
    releases/<version>/ and ``current`` switched to it atomically."""
    payload = b"x" * AGENT_FILE_BYTES

    def install(target: str, assignment: Mapping[str, Any]) -> None:
        home = root / target
        release = home / "releases" / str(assignment["version"])
        release.mkdir(parents=True, exist_ok=True)
        (release / "app.bin").write_bytes(payload)
        link = home / "current.new"
        link.unlink(missing_ok=True)
        link.symlink_to(release)
        os.replace(link, home / "current")

    return install


@dataclass
class GoliveResult:
    targets: int
    seconds: float  # deployment created -> recorded succeeded
    last_report_seconds: float  # deployment created -> the last succeeded report accepted
    state: str
    waves: list[tuple[int, float, float, int]]  # index, started, finished (s), targets
    problems: list[str]
    load: Load
    requests: dict[str, int]
    answered: list[tuple[str, str, int, float]]  # route, status, requests, mean ms
    curve: list[int]  # succeeded reports the server had taken, each second


def run_golive(args: argparse.Namespace, work: Path) -> GoliveResult:
    from tests.support.crash_rollout import (
        COMPONENT,
        ENVIRONMENT,
        VERSION,
        GoliveProcess,
        add_version,
        fleet_and_record_problems,
        read_records,
        start_server,
    )
    from tests.support.postgres import free_port
    from tests.support.virtual_fleet import VirtualFleet, seed_agents

    from golive.cli.local import initialise
    from golive.settings import Settings

    home = work / "home"
    database_url = fresh_postgres(args.database_url, f"golive_rollout_{os.getpid()}")
    args.made_database = database_url is not None
    settings = Settings(home=home, **({"database_url": database_url} if database_url else {}))
    secret = initialise(settings)
    token = secret if secret is not None else settings.admin_token_path.read_text().strip()
    names = [f"vm-{number:05d}" for number in range(1, args.targets + 1)]
    began = time.perf_counter()
    print(f"seeding {args.targets} agents in the records ...", flush=True)
    credentials = seed_agents(settings.database_url, ENVIRONMENT, names, {"role": "web"})
    print(f"  seeded in {time.perf_counter() - began:.1f} s (not measured)")

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"GOLIVE_DATABASE_URL": settings.database_url, "GOLIVE_LOG_FORMAT": "human"}
    # The engine inside the server (the default), or in a `golive worker` of its own
    # beside a `golive server --no-engine` (how golive runs at scale).
    extra = ("--no-engine",) if args.worker else ()
    server = start_server(home, port, work / "server.log", env, *extra)
    engine = None
    if args.worker:
        engine = GoliveProcess(
            ["worker", "--home", str(home), "--name", "bench", "--no-ssh"], work / "worker.log", env
        ).start()
    print(f"golive server pid {server.pid} on {url}", flush=True)
    fleet = VirtualFleet(
        url,
        credentials,
        poll_interval=args.poll_interval,
        step_seconds=(0.0, 0.0),
        max_backoff=2.0,
        seed=7,
        connections=0,  # no limit: every agent keeps its own connection, as a fleet does
        install=release_writer(work / "fleet"),
        wait=args.wait,
        batch=True,
    )
    as_running(settings.database_url, fleet)
    try:
        with (
            httpx.Client(
                base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120
            ) as client,
            fleet.running(),
        ):
            connected = _wait_for_waiting(client, args.targets, 300)
            print(
                f"{args.targets} virtual agents waiting in their check-ins (wait={args.wait:g} s), "
                f"all connected after {connected:.1f} s (not measured)",
                flush=True,
            )
            content = os.urandom(ARTIFACT_BYTES)
            add_version(client, COMPONENT, VERSION, content)
            before = dict(fleet.unavailable)
            scraped = _scrape(client)
            watched = [server.pid] + ([engine.pid] if engine is not None else [])
            with LoadWatch(watched) as watch:
                started = time.perf_counter()
                created = client.post(
                    "/api/v1/deployments",
                    json={
                        "environment": ENVIRONMENT,
                        "versions": [f"{COMPONENT}@{VERSION}"],
                        "strategy": "phased",
                        "waves": WAVES,
                        "bake": "0s",
                    },
                )
                if created.status_code != 201:
                    raise RuntimeError(f"creating the deployment: {created.text}")
                number = int(created.json()["id"])
                curve: list[int] = []
                deadline = started + args.timeout
                while fleet.succeeded < args.targets and time.perf_counter() < deadline:
                    next_second = started + len(curve) + 1
                    fleet.wait_until(
                        lambda: fleet.succeeded >= args.targets,
                        max(0.0, next_second - time.perf_counter()),
                    )
                    curve.append(fleet.succeeded)
                last_report = time.perf_counter() - started
                state = _wait_for_final(
                    client, number, max(1.0, args.timeout - (time.perf_counter() - started))
                )
            during = dict(fleet.unavailable)  # the calls that failed while it ran
            answered = _requests_between(scraped, _scrape(client))
            shown = client.get(f"/api/v1/deployments/{number}").json()
            if not fleet.wait_until(lambda: fleet.settled, 30):
                print("  (the agents still had reports or inventory to send)")
    finally:
        server.stop()
        if engine is not None:
            engine.stop()
    problems = []
    if state != "succeeded":
        problems.append(f"the deployment ended {state}, not succeeded")
    problems += fleet_and_record_problems(
        fleet, read_records(settings.database_url, number), set(names), VERSION
    )
    written = sum(1 for name in names if (work / "fleet" / name / "current").is_symlink())
    if written != len(names):
        problems.append(f"only {written} of {len(names)} agents switched `current`")
    requests = {
        f"agent calls that failed ({what})": n - before.get(what, 0) for what, n in during.items()
    }
    return GoliveResult(
        targets=args.targets,
        seconds=_recorded_seconds(shown),
        last_report_seconds=last_report,
        state=state,
        waves=_waves(shown),
        problems=problems,
        load=watch.result,
        requests={k: v for k, v in requests.items() if v},
        answered=answered,
        curve=curve,
    )


def _wait_for_waiting(client: httpx.Client, targets: int, timeout: float) -> float:
    """Seconds until the server holds a waiting check-in of every agent (its gauge)."""
    began = time.perf_counter()
    while time.perf_counter() - began < timeout:
        for line in client.get("/metrics").text.splitlines():
            if (
                line.startswith("golive_agent_check_ins_waiting ")
                and float(line.split()[1]) >= targets
            ):
                return time.perf_counter() - began
        time.sleep(0.25)
    raise RuntimeError(f"the {targets} agents were not all waiting after {timeout:.0f} s")


def _scrape(client: httpx.Client) -> dict[tuple[str, str], tuple[float, float]]:
    """(method route, status or "time") -> requests answered and seconds spent, from
    the server's Prometheus metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    seen: dict[tuple[str, str], tuple[float, float]] = {}
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            where = f"{sample.labels.get('method')} {sample.labels.get('route')}"
            if sample.name == "golive_http_requests_total":
                seen[(where, sample.labels["status"])] = (sample.value, 0.0)
            elif sample.name == "golive_http_request_duration_seconds_sum":
                count, _ = seen.get((where, "time"), (0.0, 0.0))
                seen[(where, "time")] = (count, sample.value)
            elif sample.name == "golive_http_request_duration_seconds_count":
                _, spent = seen.get((where, "time"), (0.0, 0.0))
                seen[(where, "time")] = (sample.value, spent)
    return seen


def _requests_between(
    before: dict[tuple[str, str], tuple[float, float]],
    after: dict[tuple[str, str], tuple[float, float]],
) -> list[tuple[str, str, int, float]]:
    """Rows (route, status, requests, mean ms) of what was answered in between."""
    rows = []
    for (where, status), (count, _) in sorted(after.items()):
        if status == "time" or "/metrics" in where:
            continue
        made = int(count - before.get((where, status), (0.0, 0.0))[0])
        if made <= 0:
            continue
        timed, spent = after.get((where, "time"), (0.0, 0.0))
        timed_before, spent_before = before.get((where, "time"), (0.0, 0.0))
        mean = (spent - spent_before) / max(timed - timed_before, 1) * 1000
        rows.append((where, status, made, mean))
    return rows


def _wait_for_final(client: httpx.Client, number: int, timeout: float) -> str:
    """The deployment's state once final (the list view: no per-target rows)."""
    deadline = time.perf_counter() + timeout
    state = "unknown"
    while time.perf_counter() < deadline:
        answer = client.get("/api/v1/deployments", params={"limit": 1})
        if answer.status_code == 200:
            item = next((d for d in answer.json()["items"] if d["id"] == number), None)
            state = item["state"] if item is not None else state
            if state in ("succeeded", "failed", "rolled_back", "aborted"):
                return str(state)
        time.sleep(0.1)
    return state


def _recorded_seconds(shown: dict[str, Any]) -> float:
    if not shown.get("finished_at"):
        return float("nan")
    created = datetime.fromisoformat(shown["created_at"])
    return (datetime.fromisoformat(shown["finished_at"]) - created).total_seconds()


def _waves(shown: dict[str, Any]) -> list[tuple[int, float, float, int]]:
    created = datetime.fromisoformat(shown["created_at"])
    rows = []
    for wave in shown["waves"]:
        if wave["started_at"] and wave["finished_at"]:
            rows.append(
                (
                    int(wave["index"]),
                    (datetime.fromisoformat(wave["started_at"]) - created).total_seconds(),
                    (datetime.fromisoformat(wave["finished_at"]) - created).total_seconds(),
                    len(wave["targets"]),
                )
            )
    return rows


# --- Ansible ----------------------------------------------------------------------------------


@dataclass
class AnsibleResult:
    hosts: int
    seconds: float
    problems: list[str]
    load: Load


def run_ansible(args: argparse.Namespace, work: Path) -> AnsibleResult:
    folder = work / "ansible"
    folder.mkdir()
    artifact = folder / "app.bin"
    artifact.write_bytes(os.urandom(ARTIFACT_BYTES))
    (folder / "release.yml").write_text(PLAYBOOK)
    hosts = [f"host-{number:03d}" for number in range(1, args.ansible_hosts + 1)]
    lines = ["[fleet]"] + [
        f"{name} ansible_connection=local target_dir={folder / 'hosts' / name}" for name in hosts
    ]
    lines += [
        "",
        "[fleet:vars]",
        f"ansible_python_interpreter={sys.executable}",
        f"artifact={artifact}",
    ]
    (folder / "inventory.ini").write_text("\n".join(lines) + "\n")
    playbook = Path(sys.executable).parent / "ansible-playbook"
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")},
        "ANSIBLE_LOCAL_TEMP": str(folder / "tmp"),
        "ANSIBLE_REMOTE_TEMP": str(folder / "tmp"),
        "ANSIBLE_HOME": str(folder / "home"),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_NOCOLOR": "1",
    }
    command = [str(playbook), "-i", "inventory.ini", "--forks", str(args.forks), "release.yml"]
    with LoadWatch([]) as watch:
        began = time.perf_counter()
        done = subprocess.run(
            command, cwd=folder, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        seconds = time.perf_counter() - began
    problems = []
    if done.returncode != 0:
        problems.append(f"ansible-playbook exited {done.returncode}: {done.stdout[-2000:]}")
    for name in hosts:
        current = folder / "hosts" / name / "current"
        if not (current / "app.bin").is_file() or current.resolve().name != "v1":
            problems.append(f"{name}: current does not point at releases/v1 with the file")
            break
    return AnsibleResult(hosts=len(hosts), seconds=seconds, problems=problems, load=watch.result)


# --- the report -------------------------------------------------------------------------------


def report_golive(golive: GoliveResult, args: argparse.Namespace) -> None:
    backend = "PostgreSQL" if args.database_url else "SQLite"
    layout = "engine in a golive worker" if args.worker else "engine inside the server"
    print(
        f"\ngolive, {golive.targets} virtual agents, phased {WAVES}, no bake ({backend}, {layout}):"
    )
    for index, began, ended, count in golive.waves:
        print(f"  wave {index} ({count:>5} targets): {began:6.1f} s -> {ended:6.1f} s")
    per_second = [b - a for a, b in zip([0, *golive.curve], golive.curve, strict=False)]
    print("  targets succeeded per second: " + " ".join(str(n) for n in per_second))
    print(f"  last succeeded report accepted after {golive.last_report_seconds:.1f} s")
    print(f"  deployment recorded succeeded after {golive.seconds:.1f} s ({golive.state})")
    print(f"  load: {golive.load.line()}")
    print("  requests the server answered during the rollout:")
    for where, status, count, mean in golive.answered:
        print(f"    {where:<34} {status}  {count:>7}  mean {mean:6.1f} ms")
    for what, count in golive.requests.items():
        print(f"  {what}: {count} (the agents retried them)")
    for problem in golive.problems:
        print(f"  PROBLEM: {problem}")
    print(
        "  the virtual agents speak the real protocol (waiting check-ins with ETag; "
        "their reports downloading/installing/verifying/succeeded and new inventory in one "
        f"call) and write a {AGENT_FILE_BYTES}-byte file and switch `current` per target; "
        "they do not download the 1 MB artifact, check its TUF signature or run hooks"
    )


def report(golive: GoliveResult, ansible: AnsibleResult, args: argparse.Namespace) -> bool:
    print(f"\nansible-playbook, {ansible.hosts} hosts, connection local, forks {args.forks}:")
    print(f"  {ansible.seconds:.1f} s (1 MB copy into releases/v1, `current` switched)")
    print(f"  load: {ansible.load.line()}")
    for problem in ansible.problems:
        print(f"  PROBLEM: {problem}")

    golive_each = golive.seconds / golive.targets
    ansible_each = ansible.seconds / ansible.hosts
    ratio = ansible_each / golive_each
    rate = golive.targets / golive.seconds
    print(f"\n{'':<28}{'s/target':>12}{'targets/s':>12}")
    print(f"{'golive (virtual agents)':<28}{golive_each:>12.5f}{rate:>12.0f}")
    print(f"{'ansible-playbook (local)':<28}{ansible_each:>12.5f}{1 / ansible_each:>12.1f}")
    scaled = golive.seconds * 10_000 / golive.targets
    fast = golive.targets >= 10_000 and golive.seconds <= 30
    print(
        f"\nwall time to 100 %: {golive.seconds:.1f} s for {golive.targets} targets "
        f"(goal 10,000 in <= 30 s): {'met' if fast else 'NOT met'}"
        + ("" if golive.targets >= 10_000 else f" (not 10,000 targets; {scaled:.0f} s scaled)")
    )
    print(
        f"golive is {ratio:.0f}x Ansible's speed per target (goal >= 100x): "
        f"{'met' if ratio >= 100 else 'NOT met'}"
    )
    return not golive.problems and not ansible.problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--ansible-hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=10, help="ansible-playbook --forks")
    parser.add_argument("--database-url", default=None, help="a PostgreSQL server to use")
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=2.0,
        help="the spread of the agents' first check-ins (s)",
    )
    parser.add_argument(
        "--wait", type=float, default=60.0, help="how long a check-in may be held (s)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for the rollout")
    parser.add_argument("--skip-ansible", action="store_true", help="measure golive only")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--worker",
        action="store_true",
        help="run the engine in a `golive worker` beside `golive server --no-engine`",
    )
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))  # tests.support is a package of the repository, not golive
    os.environ.setdefault("GOLIVE_LOG_FORMAT", "human")
    work = Path(tempfile.mkdtemp(prefix="golive-rollout-"))
    args.made_database = False
    try:
        print(f"machine: {os.cpu_count()} cores, 1-min load average {os.getloadavg()[0]:.2f}\n")
        golive = run_golive(args, work)
        report_golive(golive, args)
        if args.skip_ansible:
            return 0 if not golive.problems else 1
        print(f"\nrunning ansible-playbook on {args.ansible_hosts} local hosts ...", flush=True)
        ansible = run_ansible(args, work)
        return 0 if report(golive, ansible, args) else 1
    finally:
        if args.made_database:
            from crash_soak import drop_database

            drop_database(args.database_url, f"golive_rollout_{os.getpid()}")
        if args.keep:
            print(f"kept the work folder (server log, fleet folders): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
