"""Run an assignment's hooks: ``/bin/sh -c`` in the release folder, with a timeout, the
GOLIVE_* environment, and stdout+stderr captured and truncated to 64 KiB for the report.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

OUTPUT_LIMIT = 64 * 1024
HOOK_NAMES = ("pre_install", "post_install", "health_check", "pre_rollback")


@dataclass(frozen=True)
class HookContext:
    """What a hook is told about the assignment it runs for."""

    root: Path
    assignment_id: int
    action: str
    component: str
    version: str
    digest: str
    release_dir: Path | None
    previous_release_dir: Path | None

    def environment(self, hook: str) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            {
                "GOLIVE_COMPONENT": self.component,
                "GOLIVE_VERSION": self.version,
                "GOLIVE_DIGEST": self.digest,
                "GOLIVE_RELEASE_DIR": str(self.release_dir or ""),
                "GOLIVE_PREVIOUS_RELEASE_DIR": str(self.previous_release_dir or ""),
                "GOLIVE_ROOT": str(self.root),
                "GOLIVE_ACTION": self.action,
                "GOLIVE_HOOK": hook,
                "GOLIVE_ASSIGNMENT_ID": str(self.assignment_id),
            }
        )
        return env


@dataclass(frozen=True)
class HookResult:
    hook: str
    exit_code: int | None
    timed_out: bool
    output: str

    @property
    def succeeded(self) -> bool:
        return self.exit_code == 0 and not self.timed_out

    def summary(self) -> str:
        """One phrase for a report's reason: ``health_check exited with 3``."""
        if self.timed_out:
            return f"{self.hook} timed out"
        return f"{self.hook} exited with {self.exit_code}"

    def section(self) -> str:
        """This hook's part of a report's output."""
        state = "timed out" if self.timed_out else f"exit {self.exit_code}"
        return f"== {self.hook} ({state}) ==\n{self.output}"


def truncate_output(text: str, limit: int = OUTPUT_LIMIT) -> str:
    """At most ``limit`` bytes of UTF-8, keeping the end (where errors usually are)."""
    data = text.encode("utf-8", errors="replace")
    if len(data) <= limit:
        return text
    note = f"[golive-agent: {len(data) - limit} earlier bytes of output left out]\n".encode()
    kept = data[len(data) - (limit - len(note)) :]
    tail = kept.decode("utf-8", errors="ignore")
    return note.decode() + tail


def run_hook(
    hook: str, command: str, cwd: Path, context: HookContext, timeout: float
) -> HookResult:
    """Run one hook to completion or until ``timeout`` (then its process group is killed)."""
    with tempfile.TemporaryFile() as capture:
        process = subprocess.Popen(  # hooks are shell commands by contract
            ["/bin/sh", "-c", command],
            cwd=cwd,
            env=context.environment(hook),
            stdin=subprocess.DEVNULL,
            stdout=capture,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        timed_out = False
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(process)
        size = capture.seek(0, os.SEEK_END)
        capture.seek(max(0, size - OUTPUT_LIMIT))
        data = capture.read()
    output = data.decode("utf-8", errors="replace")
    if size > OUTPUT_LIMIT:
        output = f"[golive-agent: {size - len(data)} earlier bytes of output left out]\n" + output
    output = truncate_output(output)
    return HookResult(hook, None if timed_out else process.returncode, timed_out, output)


def _kill_group(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()
