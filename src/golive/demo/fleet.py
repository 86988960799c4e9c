"""Run the demo agents as child processes of ``golive up`` and stop them when it stops.

Each agent is a real ``golive-agent run`` (``python -m golive.agent``): it loops by itself,
polling every second, so the supervisor only starts it once the server answers, starts it
again if it dies unexpectedly, and stops it (SIGTERM, then SIGKILL) when ``golive up`` ends.
Each agent's pid is kept in ``demo/run/<name>.pid``: one left over by a ``golive up`` that
was killed outright is stopped (``stop_leftovers``) before its folder is looked at again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, TracebackType
from typing import IO, Any

from golive.demo.records import DemoAgent
from golive.files import write_private

log = logging.getLogger("golive.demo")
POLL_INTERVAL_SECONDS = 1.0
STOP_TIMEOUT_SECONDS = 10.0
SERVER_WAIT_SECONDS = 120.0
# Exit codes after which an agent is not started again (golive-agent's own table):
# 0 it was asked to stop, 2 bad usage or another agent holds its folder, 3 revoked; and
# SIGINT or SIGTERM before it could catch them (Ctrl-C reaches the whole process group).
FINAL_EXITS = {
    0: "stopped",
    2: "refused to start",
    3: "was revoked",
    -signal.SIGINT: "was interrupted",
    -signal.SIGTERM: "was terminated",
}
MAX_QUICK_RESTARTS = 5
AGENT_NICENESS = 10
QUICK_SECONDS = 30.0


@dataclass
class _Running:
    agent: DemoAgent
    process: subprocess.Popen[bytes]
    log_file: IO[bytes]
    started: float
    quick_failures: int = 0
    restart_at: float | None = None


class DemoFleet:
    """The demo agents of one ``golive up``; a context manager around the server's run."""

    def __init__(
        self,
        agents: Sequence[DemoAgent],
        server_url: str,
        folder: Path,
        poll_interval: float = POLL_INTERVAL_SECONDS,
    ) -> None:
        self.agents = list(agents)
        self.server_url = server_url
        self.logs_dir = folder / "logs"
        self.run_dir = folder / "run"
        self.poll_interval = poll_interval
        self.stopping = threading.Event()
        self._lock = threading.Lock()
        self._running: dict[str, _Running] = {}
        self._thread: threading.Thread | None = None
        self._previous_sigterm: Any = None

    # -- the context ---------------------------------------------------------------------------

    def __enter__(self) -> DemoFleet:
        if threading.current_thread() is threading.main_thread():
            # SIGTERM would end the process without unwinding; make it unwind so that the
            # agents are stopped too (uvicorn restores this handler and re-raises the signal
            # once it has shut down).
            self._previous_sigterm = signal.signal(signal.SIGTERM, _exit_on_sigterm)
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stopping.set()
        if self._thread is not None:
            self._thread.join()  # no agent starts after this
        if self._previous_sigterm is None:
            self.stop()
            return
        # A second Ctrl-C or SIGTERM must not cut the agents' stop short (it is bounded).
        previous_sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        try:
            self.stop()
        finally:
            signal.signal(signal.SIGINT, previous_sigint)
            signal.signal(signal.SIGTERM, self._previous_sigterm)

    # -- start and stop ------------------------------------------------------------------------

    def start(self) -> None:
        """Start supervising in a thread: the agents start once the server answers."""
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._thread = threading.Thread(target=self._supervise, name="demo-fleet", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop every agent: SIGTERM, then SIGKILL for any still running after the timeout."""
        self.stopping.set()
        if self._thread is not None:
            self._thread.join()
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for entry in running:
            if entry.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    entry.process.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for entry in running:
            try:
                entry.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("demo agent %s did not stop; killing it", entry.agent.target.name)
                entry.process.kill()
                entry.process.wait()
            entry.log_file.close()
            self._pid_file(entry.agent).unlink(missing_ok=True)
        if running:
            log.info("stopped the demo fleet's %d agent(s)", len(running))

    # -- supervision ---------------------------------------------------------------------------

    def _supervise(self) -> None:
        if not self._wait_for_server():
            return
        for agent in self.agents:
            if self.stopping.is_set():
                return
            self._spawn(agent)
        log.info(
            "demo fleet: %d golive-agent(s) polling %s every %gs; logs in %s",
            len(self.agents),
            self.server_url,
            self.poll_interval,
            self.logs_dir,
        )
        while not self.stopping.wait(0.5):
            self._look_after()

    def _wait_for_server(self) -> bool:
        deadline = time.monotonic() + SERVER_WAIT_SECONDS
        while not self.stopping.is_set() and time.monotonic() < deadline:
            try:
                # urllib, not httpx: httpx logs each request in the server's log.
                health = f"{self.server_url}/api/v1/health"  # always http://, see local_url
                with urllib.request.urlopen(health, timeout=2):  # noqa: S310
                    return True  # 200: anything else raises HTTPError
            except (urllib.error.URLError, OSError):
                pass
            self.stopping.wait(0.2)
        if not self.stopping.is_set():
            log.warning("the server did not answer at %s; demo agents not started", self.server_url)
        return False

    def _look_after(self) -> None:
        """Start again agents that died unexpectedly (with a growing pause); leave the rest."""
        now = time.monotonic()
        with self._lock:
            entries = list(self._running.values())
        for entry in entries:
            if self.stopping.is_set():
                return
            code = entry.process.poll()
            if code is None:
                continue
            name = entry.agent.target.name
            if entry.restart_at is None:
                entry.log_file.close()
                self._pid_file(entry.agent).unlink(missing_ok=True)
                if code in FINAL_EXITS:
                    self._forget(name)
                    if code > 0:
                        log.warning(
                            "demo agent %s %s (exit %d); see %s",
                            name,
                            FINAL_EXITS[code],
                            code,
                            self._log_path(entry.agent),
                        )
                    continue
                quick = now - entry.started < QUICK_SECONDS
                entry.quick_failures = entry.quick_failures + 1 if quick else 0
                if entry.quick_failures > MAX_QUICK_RESTARTS:
                    self._forget(name)
                    log.error(
                        "demo agent %s keeps failing (exit %d); given up, see %s",
                        name,
                        code,
                        self._log_path(entry.agent),
                    )
                    continue
                entry.restart_at = now + min(30.0, 2.0**entry.quick_failures)
                log.warning("demo agent %s exited with %d; starting it again", name, code)
            if now >= entry.restart_at:
                self._spawn(entry.agent, entry.quick_failures)

    def _forget(self, name: str) -> None:
        with self._lock:
            self._running.pop(name, None)

    def _spawn(self, agent: DemoAgent, quick_failures: int = 0) -> None:
        command = [
            sys.executable,
            "-m",
            "golive.agent",
            "run",
            "--server",
            self.server_url,
            "--root",
            str(agent.root),
            "--name",
            agent.target.name,
            "--poll-interval",
            f"{self.poll_interval:g}",
            "--verbose",
        ]
        if agent.enroll_token is not None:
            command += ["--enroll-token", agent.enroll_token]
        env = {k: v for k, v in os.environ.items() if k != "GOLIVE_AGENT_CRASH_AT"}
        log_file = self._log_path(agent).open("ab")
        process = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT, env=env
        )
        with contextlib.suppress(OSError):
            # The agents stand in for other machines: they yield the CPU to the server here.
            os.setpriority(os.PRIO_PROCESS, process.pid, AGENT_NICENESS)
        # Written whole or not at all: a reader (the next `golive up`, looking for agents a
        # killed one left running) never sees an empty pid file.
        write_private(self._pid_file(agent), f"{process.pid}\n".encode())
        with self._lock:
            self._running[agent.target.name] = _Running(
                agent, process, log_file, time.monotonic(), quick_failures
            )

    # -- files ---------------------------------------------------------------------------------

    def _log_path(self, agent: DemoAgent) -> Path:
        return self.logs_dir / f"{agent.target.name}.log"

    def _pid_file(self, agent: DemoAgent) -> Path:
        return self.run_dir / f"{agent.target.name}.pid"


def stop_leftovers(folder: Path) -> list[str]:
    """Stop the agents a killed ``golive up`` left running on the demo's folders.

    Returns:
        The names of the agents stopped.
    """
    stopped = []
    for pid_file in sorted((folder / "run").glob("*.pid")):
        root = folder / "agents" / pid_file.stem
        try:
            pid = int(pid_file.read_text().strip())
        except (OSError, ValueError):
            pid = 0
        if pid and _is_agent_of(pid, root):
            stopped.append(pid_file.stem)
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
            while _is_agent_of(pid, root) and time.monotonic() < deadline:
                time.sleep(0.1)
            if _is_agent_of(pid, root):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        pid_file.unlink(missing_ok=True)
    return stopped


def _is_agent_of(pid: int, root: Path) -> bool:
    """Whether ``pid`` is a live golive-agent running on ``root`` (Linux: /proc)."""
    try:
        arguments = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"golive.agent" in arguments and str(root).encode() in arguments


def _exit_on_sigterm(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)
