"""hooks.py: the environment a hook sees, its timeout, and output truncation."""

from __future__ import annotations

import time
from pathlib import Path

from golive.agent.hooks import OUTPUT_LIMIT, HookContext, run_hook, truncate_output


def _context(tmp_path: Path, previous: Path | None = None) -> HookContext:
    release = tmp_path / "components" / "shop" / "releases" / "1.0-abcdef12"
    release.mkdir(parents=True)
    return HookContext(
        root=tmp_path,
        assignment_id=17,
        action="install",
        component="shop",
        version="1.0",
        digest="ab" * 32,
        release_dir=release,
        previous_release_dir=previous,
    )


def test_hook_runs_in_the_release_folder_with_the_golive_environment(tmp_path: Path) -> None:
    context = _context(tmp_path)
    assert context.release_dir is not None
    command = "pwd; env | grep ^GOLIVE_ | sort"
    result = run_hook("post_install", command, context.release_dir, context, timeout=10)
    assert result.succeeded
    lines = result.output.splitlines()
    assert lines[0] == str(context.release_dir)
    assert set(lines[1:]) == {
        "GOLIVE_ACTION=install",
        f"GOLIVE_ASSIGNMENT_ID={17}",
        "GOLIVE_COMPONENT=shop",
        f"GOLIVE_DIGEST={'ab' * 32}",
        "GOLIVE_HOOK=post_install",
        "GOLIVE_PREVIOUS_RELEASE_DIR=",
        f"GOLIVE_RELEASE_DIR={context.release_dir}",
        f"GOLIVE_ROOT={tmp_path}",
        "GOLIVE_VERSION=1.0",
    }


def test_stdout_and_stderr_are_captured_and_the_exit_code_kept(tmp_path: Path) -> None:
    context = _context(tmp_path, previous=tmp_path / "old")
    assert context.release_dir is not None
    result = run_hook(
        "health_check",
        'echo out; echo err >&2; echo "$GOLIVE_PREVIOUS_RELEASE_DIR"; exit 3',
        context.release_dir,
        context,
        timeout=10,
    )
    assert not result.succeeded
    assert result.exit_code == 3
    assert result.output == f"out\nerr\n{tmp_path / 'old'}\n"
    assert result.summary() == "health_check exited with 3"


def test_a_hook_past_its_timeout_is_killed_with_its_children(tmp_path: Path) -> None:
    context = _context(tmp_path)
    assert context.release_dir is not None
    started = time.monotonic()
    result = run_hook(
        "health_check", "echo before; sleep 30 & sleep 30", context.release_dir, context, 0.5
    )
    assert time.monotonic() - started < 10
    assert result.timed_out
    assert not result.succeeded
    assert result.output == "before\n"
    assert result.summary() == "health_check timed out"


def test_output_is_truncated_to_64_kib_keeping_the_end(tmp_path: Path) -> None:
    context = _context(tmp_path)
    assert context.release_dir is not None
    command = "head -c 200000 /dev/zero | tr '\\0' 'a'; echo THE-END"
    result = run_hook("post_install", command, context.release_dir, context, timeout=10)
    assert result.succeeded
    assert len(result.output.encode()) <= OUTPUT_LIMIT
    assert result.output.startswith("[golive-agent: ")
    assert result.output.endswith("THE-END\n")


def test_truncate_output_counts_utf8_bytes() -> None:
    text = "é" * OUTPUT_LIMIT
    cut = truncate_output(text)
    assert len(cut.encode()) <= OUTPUT_LIMIT
    assert cut.endswith("é")
    assert truncate_output("short") == "short"
