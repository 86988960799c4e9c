"""The agent against a fake golive server (real HTTP, real TUF repository): enrollment,
install, upgrade, rollback, removal, refusals, retention, inventory, and convergence after
being killed at each instant (real agent processes, GOLIVE_AGENT_CRASH_AT).
"""

from __future__ import annotations

import hashlib
import json
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from filelock import FileLock

from golive.agent.agent import (
    MAX_BACKOFF_SECONDS,
    Agent,
    AgentOptions,
    backoff_delay,
    jittered,
)
from golive.agent.errors import CredentialRefused, ServerUnavailable
from golive.agent.releases import IN_PROGRESS
from golive.agent.state import StateFile
from tests.agent.conftest import (
    REPO_ROOT,
    agent_process,
    current_of,
    releases_of,
    run_once,
    tar_gz,
)
from tests.agent.fake_server import FakeGolive

HEALTHY = {
    "pre_install": 'echo "pre $GOLIVE_VERSION" >> "$GOLIVE_ROOT/hooks.log"',
    "post_install": 'echo "post $GOLIVE_VERSION" >> "$GOLIVE_ROOT/hooks.log"',
    "health_check": 'test -f app.conf && echo "healthy $GOLIVE_VERSION"',
    "pre_rollback": 'echo "pre_rollback $GOLIVE_VERSION" >> "$GOLIVE_ROOT/hooks.log"',
}
FULL = ["downloading", "installing", "verifying", "succeeded"]


def _shop(fake: FakeGolive, version: str, **files: bytes) -> str:
    content = files or {"app.conf": f"version={version}\n".encode(), "bin/start.sh": b"exit 0\n"}
    return fake.publish("shop", version, f"shop-{version}.tar.gz", tar_gz(dict(content)))


def _release(fake: FakeGolive, tuf_target: str) -> str:
    version = tuf_target.split("/")[1]
    return f"{version}-{fake.published[tuf_target].sha256[:8]}"


def test_first_run_enrolls_once_and_keeps_its_secrets_private(
    fake: FakeGolive, agent_root: Path
) -> None:
    assert run_once(fake, agent_root) == 0
    assert run_once(fake, agent_root) == 0
    registers = [r for r in fake.requests if r[1] == "/api/v1/agent/register"]
    assert registers == [("POST", "/api/v1/agent/register", 201)]
    assert (agent_root / "agent-key.pem").stat().st_mode & 0o777 == 0o600
    assert (agent_root / "state.json").stat().st_mode & 0o777 == 0o600
    pinned = json.loads((agent_root / "tuf" / "root.json").read_bytes())
    assert pinned == json.loads(fake.repo.root_json())
    state = StateFile(agent_root).load()
    assert state.credential == fake.targets["web-01"].credential
    assert fake.targets["web-01"].inventory == {"installed": [], "unauthorised": []}

    # Killed after registering but before storing the credential: enrolling again is
    # idempotent (same key, 200, a fresh credential, the same target).
    state.credential = ""
    StateFile(agent_root).save(state)
    assert run_once(fake, agent_root) == 0
    assert [r[2] for r in fake.requests if r[1] == "/api/v1/agent/register"] == [201, 200]
    assert StateFile(agent_root).load().credential == fake.targets["web-01"].credential
    assert list(fake.targets) == ["web-01"]


def test_an_unchanged_check_in_is_answered_304(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    run_once(fake, agent_root)
    desired = [r for r in fake.requests if r[1] == "/api/v1/agent/desired"]
    assert desired[-1][2] == 304


def test_install_then_upgrade_with_hooks_and_retention(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    versions = ["1.0", "2.0", "3.0", "4.0"]
    targets = [_shop(fake, version) for version in versions]
    for target in targets:
        number = fake.assign("web-01", target, hooks=HEALTHY, keep_releases=2)
        assert run_once(fake, agent_root) == 0
        assert fake.states(number) == FULL
        assert current_of(agent_root, "shop") == f"releases/{_release(fake, target)}"
        final = fake.assignments[number].reports[-1]
        assert "== health_check (exit 0) ==" in final["output"]
        assert final["reason"] is None

    current = agent_root / "components" / "shop" / "current"
    assert (current / "app.conf").read_text() == "version=4.0\n"
    # keep 2: the newest two (current and the previous) remain.
    assert releases_of(agent_root, "shop") == sorted(_release(fake, t) for t in targets[2:])
    log = (agent_root / "hooks.log").read_text().splitlines()
    assert log == [f"{hook} {v}" for v in versions for hook in ("pre", "post")]
    assert fake.targets["web-01"].installed == {"shop": "4.0"}
    assert fake.targets["web-01"].inventory == {
        "installed": [
            {
                "component": "shop",
                "version": "4.0",
                "digest": fake.published[targets[-1]].sha256,
                "release": _release(fake, targets[-1]),
            }
        ],
        "unauthorised": [],
    }
    assert not (agent_root / "downloads" / "4").exists()


def test_failed_health_check_rolls_back_to_the_previous_release(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    good = _shop(fake, "1.0")
    fake.assign("web-01", good, hooks=HEALTHY)
    run_once(fake, agent_root)

    bad = _shop(fake, "2.0")
    hooks = dict(HEALTHY, health_check="echo 'port 80 refused'; exit 7")
    number = fake.assign("web-01", bad, hooks=hooks)
    assert run_once(fake, agent_root) == 0

    assert fake.states(number) == ["downloading", "installing", "verifying", "rolled_back"]
    final = fake.assignments[number].reports[-1]
    assert final["reason"] == "health_check exited with 7; rolled back"
    assert "port 80 refused" in final["output"]
    assert current_of(agent_root, "shop") == f"releases/{_release(fake, good)}"
    assert releases_of(agent_root, "shop") == [_release(fake, good)]
    assert "pre_rollback 2.0" in (agent_root / "hooks.log").read_text()
    assert fake.targets["web-01"].installed == {"shop": "1.0"}


def test_a_first_install_that_fails_its_health_check_leaves_no_current(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    target = _shop(fake, "1.0")
    number = fake.assign("web-01", target, hooks={"health_check": "exit 1"})
    run_once(fake, agent_root)
    assert fake.states(number)[-1] == "rolled_back"
    assert current_of(agent_root, "shop") is None
    assert releases_of(agent_root, "shop") == []


def test_a_failed_pre_install_never_switches(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    good = _shop(fake, "1.0")
    fake.assign("web-01", good)
    run_once(fake, agent_root)
    number = fake.assign("web-01", _shop(fake, "2.0"), hooks={"pre_install": "exit 2"})
    run_once(fake, agent_root)
    assert fake.states(number) == ["downloading", "installing", "failed"]
    reason = fake.assignments[number].reports[-1]["reason"]
    assert reason == "pre_install exited with 2; current was not switched"
    assert current_of(agent_root, "shop") == f"releases/{_release(fake, good)}"
    assert releases_of(agent_root, "shop") == [_release(fake, good)]


def test_a_slow_health_check_times_out_and_rolls_back(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    number = fake.assign(
        "web-01", _shop(fake, "1.0"), hooks={"health_check": "sleep 30"}, hook_timeout_seconds=0.5
    )
    started = time.monotonic()
    run_once(fake, agent_root)
    assert time.monotonic() - started < 20
    assert fake.assignments[number].reports[-1]["reason"] == "health_check timed out; rolled back"


def test_removal_removes_current_and_releases(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    target = _shop(fake, "1.0")
    fake.assign("web-01", target)
    run_once(fake, agent_root)
    number = fake.assign("web-01", target, action="remove", hooks=HEALTHY)
    assert run_once(fake, agent_root) == 0
    assert fake.states(number) == FULL
    assert not (agent_root / "components" / "shop").exists()
    assert fake.targets["web-01"].installed == {}
    assert fake.targets["web-01"].inventory == {"installed": [], "unauthorised": []}
    assert not (agent_root / "hooks.log").exists()  # removal runs no hooks


def test_a_tampered_artifact_is_refused(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    target = _shop(fake, "1.0")
    fake.tamper(target)
    number = fake.assign("web-01", target, hooks=HEALTHY)
    run_once(fake, agent_root)
    assert fake.states(number) == ["downloading", "failed"]
    reason = fake.assignments[number].reports[-1]["reason"]
    assert "does not match its signed length and sha256" in reason
    assert current_of(agent_root, "shop") is None
    assert not (agent_root / "hooks.log").exists()


def test_an_assignment_whose_digest_is_not_the_signed_one_is_refused(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    number = fake.assign("web-01", _shop(fake, "1.0"))
    fake.assignments[number].digest = hashlib.sha256(b"other bytes").hexdigest()
    run_once(fake, agent_root)
    reason = fake.assignments[number].reports[-1]["reason"]
    assert "differs from the assignment's digest" in reason
    assert fake.states(number) == ["downloading", "failed"]


def test_an_unpublished_or_oversized_target_is_refused(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    number = fake.assign("web-01", _shop(fake, "1.0"))
    fake.assignments[number].tuf_target = "shop/1.0/other.tar.gz"
    run_once(fake, agent_root)
    assert "is not a signed target" in fake.assignments[number].reports[-1]["reason"]

    number = fake.assign("web-01", _shop(fake, "2.0"))
    fake.assignments[number].size = 10**12
    run_once(fake, agent_root)
    assert "over the agent's limit" in fake.assignments[number].reports[-1]["reason"]


def test_a_path_escaping_archive_is_refused(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    good = _shop(fake, "1.0")
    fake.assign("web-01", good)
    run_once(fake, agent_root)
    evil = fake.publish(
        "shop", "2.0", "shop-2.0.tar.gz", tar_gz({"app.conf": b"x", "../../escaped": b"x"})
    )
    number = fake.assign("web-01", evil, hooks=HEALTHY)
    run_once(fake, agent_root)
    assert fake.states(number) == ["downloading", "installing", "failed"]
    reason = fake.assignments[number].reports[-1]["reason"]
    assert reason == "refused archive entry '../../escaped': it has a '..' segment"
    assert current_of(agent_root, "shop") == f"releases/{_release(fake, good)}"
    assert releases_of(agent_root, "shop") == [_release(fake, good)]
    assert not (agent_root.parent / "escaped").exists()


def test_an_unauthorised_current_is_reported_not_repaired(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    fake.assign("web-01", _shop(fake, "1.0"))
    run_once(fake, agent_root)
    shop = agent_root / "components" / "shop"
    (shop / "releases" / "evil").mkdir()
    (shop / "current").unlink()
    (shop / "current").symlink_to("releases/evil")

    assert run_once(fake, agent_root) == 0
    assert fake.targets["web-01"].inventory == {
        "installed": [],
        "unauthorised": [
            {
                "component": "shop",
                "current": "releases/evil",
                "reason": "current points to releases/evil, which golive-agent did not install",
            }
        ],
    }
    assert current_of(agent_root, "shop") == "releases/evil"


def test_one_agent_per_root(fake: FakeGolive, agent_root: Path) -> None:
    agent_root.mkdir()
    with FileLock(str(agent_root / "agent.lock")):
        finished = agent_process(fake.url, agent_root, "--once")
    assert finished.returncode == 2
    assert "another golive-agent is already running on" in finished.stderr


def test_a_revoked_target_stops_with_exit_code_3(fake: FakeGolive, agent_root: Path) -> None:
    assert agent_process(fake.url, agent_root, "--once").returncode == 0
    fake.targets["web-01"].revoked = True
    finished = agent_process(fake.url, agent_root, "--poll-interval", "0.1")
    assert finished.returncode == 3
    assert "revoked this target's credential" in finished.stderr


def test_a_bad_enrollment_token_is_a_clear_refusal(fake: FakeGolive, agent_root: Path) -> None:
    finished = agent_process(fake.url, agent_root, "--once", enroll_token="gle_wrong")
    assert finished.returncode == 3
    assert finished.stderr == (
        "golive-agent: the server refused the enrollment token: 401 unknown enrollment token\n"
    )
    agent = Agent(AgentOptions(fake.url, agent_root, "gle_wrong", "web-01", once=True))
    with pytest.raises(CredentialRefused):
        agent.run()


def test_an_unreachable_server_is_retried_and_nothing_is_lost(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    target = _shop(fake, "1.0")
    number = fake.assign("web-01", target, hooks=HEALTHY)
    fake.down = True
    once = agent_process(fake.url, agent_root, "--once")
    assert once.returncode == 4
    assert "answered 503" in once.stderr

    command = [sys.executable, "-m", "golive.agent", "run", "--server", fake.url]
    command += ["--root", str(agent_root), "--poll-interval", "0.2"]
    agent = subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(1.5)
        assert fake.states(number) == []
        fake.down = False
        deadline = time.monotonic() + 60
        while fake.assignments[number].state != "succeeded":
            assert time.monotonic() < deadline, "the agent did not recover"
            time.sleep(0.1)
    finally:
        agent.terminate()
        _, errors = agent.communicate(timeout=30)
    assert agent.returncode == 0, errors
    assert fake.states(number) == FULL


@pytest.mark.slow
@pytest.mark.parametrize("crash_at", ["download", "unpack", "switch"])
@pytest.mark.parametrize("healthy", [True, False], ids=["healthy", "unhealthy"])
def test_killed_at_each_instant_the_agent_converges(
    fake: FakeGolive, agent_root: Path, crash_at: str, healthy: bool
) -> None:
    assert agent_process(fake.url, agent_root, "--once").returncode == 0
    old = _shop(fake, "1.0")
    fake.assign("web-01", old)
    assert agent_process(fake.url, agent_root, "--once").returncode == 0
    files = {f"file{n}.txt": b"x" * 300_000 for n in range(5)}
    files["app.conf"] = b"version=2.0\n"
    new = fake.publish("shop", "2.0", "shop-2.0.tar.gz", tar_gz(files))
    hooks = dict(HEALTHY) if healthy else dict(HEALTHY, health_check="exit 9")
    number = fake.assign("web-01", new, hooks=hooks)

    killed = agent_process(fake.url, agent_root, "--once", crash_at=crash_at)
    assert killed.returncode == 137, killed.stderr
    running = current_of(agent_root, "shop")
    expected_running = _release(fake, new) if crash_at == "switch" else _release(fake, old)
    assert running == f"releases/{expected_running}"  # the old or the new, never broken
    assert (agent_root / "components" / "shop" / "current" / "app.conf").is_file()
    if crash_at == "unpack":
        partial = (
            agent_root / "components" / "shop" / "releases" / f".{_release(fake, new)}.partial"
        )
        assert (partial / IN_PROGRESS).exists()  # killed with a half-unpacked release

    restarted = agent_process(fake.url, agent_root, "--once")
    assert restarted.returncode == 0, restarted.stderr
    if healthy:
        assert fake.states(number) == FULL
        assert current_of(agent_root, "shop") == f"releases/{_release(fake, new)}"
        assert releases_of(agent_root, "shop") == sorted([_release(fake, old), _release(fake, new)])
        conf = agent_root / "components" / "shop" / "current" / "app.conf"
        assert conf.read_text() == "version=2.0\n"
        assert fake.targets["web-01"].installed == {"shop": "2.0"}
    else:
        assert fake.states(number) == ["downloading", "installing", "verifying", "rolled_back"]
        assert current_of(agent_root, "shop") == f"releases/{_release(fake, old)}"
        assert releases_of(agent_root, "shop") == [_release(fake, old)]
        assert fake.targets["web-01"].installed == {"shop": "1.0"}
    state = StateFile(agent_root).load()
    assert state.journal is None
    assert state.outbox == []
    assert not (agent_root / "downloads" / str(number)).exists()


def test_jitter_and_backoff_stay_in_bounds() -> None:
    rng = random.Random(4)
    for _ in range(200):
        assert 24 <= jittered(30, rng) <= 36
    assert max(backoff_delay(attempt, rng) for attempt in range(60)) <= MAX_BACKOFF_SECONDS
    assert all(backoff_delay(0, rng) <= 1 for _ in range(50))
    assert max(backoff_delay(20, rng) for _ in range(200)) > 200


FORBIDDEN = ("fastapi", "sqlalchemy", "typer", "rich", "pydantic", "uvicorn", "alembic")


def test_the_agent_imports_without_the_server_dependencies() -> None:
    probe = f"""
import sys
FORBIDDEN = {FORBIDDEN!r}
class Refuse:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in FORBIDDEN:
            raise ImportError(f"golive.agent must not import {{name}}")
        return None
sys.meta_path.insert(0, Refuse())
import importlib, pkgutil, runpy
import golive.agent.cli
for module in pkgutil.iter_modules(golive.agent.__path__):
    if module.name != "__main__":
        importlib.import_module(f"golive.agent.{{module.name}}")
loaded = sorted(name for name in sys.modules if name.split(".")[0] in FORBIDDEN)
assert not loaded, loaded
sys.argv = ["golive-agent", "--version"]
runpy.run_module("golive.agent", run_name="__main__")
"""
    finished = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO_ROOT, timeout=60
    )
    assert "golive-agent 0.1.0" in finished.stdout, finished.stderr


def test_a_malformed_assignment_is_failed_without_touching_anything(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    number = fake.assign("web-01", _shop(fake, "1.0"))
    fake.assignments[number].component = "../etc"
    assert run_once(fake, agent_root) == 0
    assert fake.states(number) == ["failed"]
    reason = fake.assignments[number].reports[-1]["reason"]
    assert reason == "the component '../etc' cannot be used as a folder name"
    assert not (agent_root / "components").exists()


def _running_agent(fake: FakeGolive, agent_root: Path, interval: str) -> subprocess.Popen[str]:
    command = [sys.executable, "-m", "golive.agent", "run", "--server", fake.url]
    command += ["--root", str(agent_root), "--poll-interval", interval]
    return subprocess.Popen(command, cwd=REPO_ROOT, stderr=subprocess.PIPE, text=True)


def _until(check: Callable[[], bool], seconds: float, what: str) -> float:
    started = time.monotonic()
    while not check():
        assert time.monotonic() - started < seconds, what
        time.sleep(0.02)
    return time.monotonic() - started


def test_a_waiting_agent_hears_of_an_assignment_at_once(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    target = _shop(fake, "1.0")
    fake.requests.clear()  # from here on, only the running agent's calls
    agent = _running_agent(fake, agent_root, "30")
    try:
        _until(lambda: fake.holding == 1, 30, "the agent's check-in was never held")
        asked = sum(1 for method, path, _ in fake.requests if "/agent/desired" in path)
        number = fake.assign("web-01", target, hooks=HEALTHY)
        took = _until(
            lambda: fake.assignments[number].state == "succeeded", 10, "not installed at once"
        )
        # Within a moment, not at the next 30 s poll, and by one waiting check-in.
        assert took < 5
        _until(lambda: fake.holding == 1, 10, "the agent did not wait again")
        answers = [status for _, path, status in fake.requests if "/agent/desired" in path]
        # One 200 brought the assignment. The agent kept the ETag its own reports moved
        # on (POST /agent/reports answered it), so it did not need a second 200 to learn
        # what it had just done: it waits again at once.
        assert answers[asked:] == [200]
    finally:
        agent.terminate()
        _, errors = agent.communicate(timeout=30)
    assert agent.returncode == 0, errors
    assert fake.states(number) == FULL
    assert all("wait=30" in path for _, path, _ in fake.requests if "/agent/desired" in path)


def test_a_server_that_keeps_answering_200_is_not_asked_every_second(
    fake: FakeGolive, agent_root: Path
) -> None:
    # A server that never records the inventory answers every check-in 200 with the same
    # ETag (send_inventory); the agent then waits its interval, not the brief pause it
    # takes after a real change.
    fake.keeps_inventory = False
    run_once(fake, agent_root)
    fake.requests.clear()
    agent = _running_agent(fake, agent_root, "30")
    try:
        time.sleep(5)
    finally:
        agent.terminate()
        _, errors = agent.communicate(timeout=30)
    assert agent.returncode == 0, errors
    asked = [status for _, path, status in fake.requests if "/agent/desired" in path]
    assert set(asked) == {200}, (fake.requests, errors)
    assert len(asked) <= 2


def test_an_assignment_made_while_the_agent_installs_is_not_missed(
    fake: FakeGolive, agent_root: Path
) -> None:
    # The agent keeps the ETag its own reports move on only while nothing else moved
    # the desired state: an assignment made mid-install is heard of at once, not at the
    # end of a 30 s wait.
    run_once(fake, agent_root)
    first, second = _shop(fake, "1.0"), _shop(fake, "2.0")
    slow = {**HEALTHY, "health_check": "sleep 1.5 && test -f app.conf"}
    fake.requests.clear()
    agent = _running_agent(fake, agent_root, "30")
    try:
        _until(lambda: fake.holding == 1, 30, "the agent's check-in was never held")
        one = fake.assign("web-01", first, hooks=slow)
        _until(lambda: fake.assignments[one].state == "verifying", 10, "never verifying")
        two = fake.assign("web-01", second, hooks=HEALTHY)
        _until(lambda: fake.assignments[two].state == "succeeded", 10, "the second was missed")
    finally:
        agent.terminate()
        _, errors = agent.communicate(timeout=30)
    assert agent.returncode == 0, errors
    assert fake.states(one) == FULL
    assert fake.states(two) == FULL
    assert current_of(agent_root, "shop") == f"releases/{_release(fake, second)}"


def test_sigterm_abandons_a_held_check_in_at_once(fake: FakeGolive, agent_root: Path) -> None:
    run_once(fake, agent_root)
    agent = _running_agent(fake, agent_root, "60")
    try:
        _until(lambda: fake.holding == 1, 30, "the agent's check-in was never held")
        agent.terminate()
        started = time.monotonic()
        _, errors = agent.communicate(timeout=30)
    finally:
        agent.kill()
    assert time.monotonic() - started < 5
    assert agent.returncode == 0, errors
    assert "Traceback" not in errors


@pytest.mark.parametrize("batches", [True, False], ids=["one-call", "server-without-batches"])
def test_queued_reports_are_delivered_in_order_and_refused_ones_dropped(
    fake: FakeGolive, agent_root: Path, batches: bool
) -> None:
    run_once(fake, agent_root)
    target = _shop(fake, "1.0")
    number = fake.assign("web-01", target)
    other = fake.assign("web-01", target)
    fake.assignments[number].state = "dispatched"
    fake.assignments[other].state = "dispatched"
    fake.takes_batches = batches
    agent = Agent(AgentOptions(fake.url, agent_root, once=True))
    agent.state = StateFile(agent_root).load()
    agent.client.credential = agent.state.credential
    at = "2026-11-26T12:00:00Z"
    agent.state.outbox = [
        {"assignment_id": number, "state": "downloading", "at": at},
        {"assignment_id": number, "state": "succeeded", "at": at},  # not a move: 409
        {"assignment_id": 999, "state": "failed", "at": at},  # not this target's: 404
        {"assignment_id": number, "state": "installing", "at": at},
        {"assignment_id": other, "state": "failed", "at": at, "reason": "disk full"},
    ]
    fake.requests.clear()
    agent.deliver()
    agent.client.close()
    assert agent.state.outbox == []
    assert StateFile(agent_root).load().outbox == []
    assert fake.states(number) == ["downloading", "installing"]
    assert fake.states(other) == ["failed"]
    calls = [(method, path) for method, path, _ in fake.requests]
    if batches:
        assert calls == [("POST", "/api/v1/agent/reports")]
    else:
        assert calls[0] == ("POST", "/api/v1/agent/reports")
        assert calls[1:] == [("POST", "/api/v1/agent/report")] * 5


def test_reports_the_server_cannot_take_now_stay_in_the_outbox(
    fake: FakeGolive, agent_root: Path
) -> None:
    run_once(fake, agent_root)
    number = fake.assign("web-01", _shop(fake, "1.0"))
    agent = Agent(AgentOptions(fake.url, agent_root, once=True))
    agent.state = StateFile(agent_root).load()
    agent.client.credential = agent.state.credential
    queued = [{"assignment_id": number, "state": "downloading", "at": "2026-11-26T12:00:00Z"}]
    agent.state.outbox = list(queued)
    fake.down = True
    with pytest.raises(ServerUnavailable):
        agent.deliver()
    agent.client.close()
    assert agent.state.outbox == queued
    assert fake.states(number) == []
