"""The ``golive`` entry point imports a command's module only when that command is needed."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from typer.core import TyperGroup

from golive.cli.main import _COMMANDS, _LazyGroup, _load, main

SERVER_SIDE = ("fastapi", "uvicorn", "sqlalchemy", "golive.db", "asyncssh")


def _imported_after(*argv: str) -> list[str]:
    """Which server-side modules a fresh interpreter holds after ``golive *argv``."""
    probe = (
        "import contextlib, io, sys\n"
        "from golive.cli.main import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main({list(argv)!r})\n"
        f"print(' '.join(m for m in {SERVER_SIDE!r} if m in sys.modules))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        env={**os.environ, "COLUMNS": "200"},
    )
    return result.stdout.split()


@pytest.mark.parametrize(
    "argv", [["--version"], ["--help"], ["media", "--help"], ["changes", "--help"]]
)
def test_client_commands_leave_the_server_side_unimported(argv: list[str]) -> None:
    assert _imported_after(*argv) == []


def test_local_commands_still_load_the_server_side() -> None:
    assert set(_imported_after("db", "--help")) >= {"sqlalchemy", "golive.db"}


def _listed(capsys: pytest.CaptureFixture[str], *argv: str) -> list[str]:
    capsys.readouterr()
    assert main([*argv, "--help"]) == 0
    names = re.findall(r"^│ (\S+)\s", capsys.readouterr().out, re.M)
    return [name for name in names if not name.startswith("-")]


def test_help_lists_every_command_in_order(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "200")
    assert _listed(capsys) == [
        *("init", "server", "up", "worker", "login", "whoami", "deploy", "schedule"),
        *("metrics", "db", "environments", "targets", "components", "principals", "tokens"),
        *("audit", "media", "hardware", "assignments", "work-orders", "deployments"),
        *("changes", "itsm", "webhooks", "windows"),
    ]


def test_commands_other_concepts_add_to_a_group_keep_their_place(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # The API (imported by this test session) adds `targets ssh` before the agents' and
    # the deployments' commands are imported; the list does not depend on that order.
    monkeypatch.setenv("COLUMNS", "200")
    assert _listed(capsys, "targets") == [
        *("create", "list", "show", "update", "delete"),
        *("enroll-token", "revoke-agent", "installed"),
        *("ssh", "ssh-key"),
        "history",
    ]
    assert _listed(capsys, "components") == [
        *("create", "list", "show", "update", "delete", "where")
    ]


def test_an_unknown_command_is_refused_with_suggestions(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["enviroments"]) == 2
    assert "Did you mean 'environments', 'deployments'?" in capsys.readouterr().err


def test_the_lines_help_lists_are_the_commands_own(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # `golive --help` lists each command with a line kept next to its name (no import);
    # it must read exactly as the command's own help does once its module is loaded.
    monkeypatch.setenv("COLUMNS", "200")
    capsys.readouterr()
    assert main(["--help"]) == 0
    listed = capsys.readouterr().out
    monkeypatch.setattr(_LazyGroup, "format_help", TyperGroup.format_help)  # load them all
    assert main(["--help"]) == 0
    loaded = capsys.readouterr().out
    assert listed == loaded
    for name, (_module, _attribute, line) in _COMMANDS.items():
        assert (_load(name).help or "").split("\n\n")[0].strip() == line, name
