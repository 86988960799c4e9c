"""`golive init`, `server`, `up` and `db` as separate processes, the way a user runs them."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, text

from golive.db import alembic_config
from tests.support.postgres import PostgresCluster, free_port

pytestmark = pytest.mark.slow
GOLIVE = [sys.executable, "-m", "golive"]


def golive(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*GOLIVE, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
        cwd=cwd,
        check=False,
    )


def _flowing(text: str) -> str:
    """``text`` on one line: Rich wraps a message at the terminal's width, and how long
    a message is depends on the temporary folder it names."""
    return " ".join(text.split())


@contextmanager
def running(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [*GOLIVE, *args, "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=cwd,
        env={**os.environ, **(env or {})},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                break
            try:
                if httpx.get(f"{url}/api/v1/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        yield process, url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout:
            process.stdout.close()


def test_init_twice_keeps_everything(tmp_path: Path) -> None:
    home = tmp_path / "data"
    first = golive("init", "--home", str(home))
    assert first.returncode == 0, first.stderr
    token_file = home / "admin.token"
    secret = token_file.read_text().strip()
    assert secret.startswith("glv_")
    assert secret in first.stdout  # printed once
    assert stat.S_IMODE(token_file.stat().st_mode) == 0o600
    assert (home / "golive.db").exists()
    keys = sorted(p.name for p in (home / "keys").iterdir())
    assert keys == [
        "root.pem",
        "snapshot.pem",
        "ssh_client",
        "ssh_client.pub",
        "targets.pem",
        "timestamp.pem",
    ]
    private = [k for k in keys if not k.endswith(".pub")]
    assert all(stat.S_IMODE((home / "keys" / k).stat().st_mode) == 0o600 for k in private)
    assert (home / "tuf" / "1.root.json").exists()
    root_before = (home / "tuf" / "1.root.json").read_bytes()

    second = golive("init", "--home", str(home))
    assert second.returncode == 0, second.stderr
    assert "already initialised" in _flowing(second.stdout)
    assert secret not in second.stdout
    assert token_file.read_text().strip() == secret
    assert (home / "tuf" / "1.root.json").read_bytes() == root_before

    with running("server", "--home", str(home)) as (_, url):
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {secret}"})
    assert me.json()["roles"] == ["admin"]


def test_init_uses_golive_home_then_dot_golive(tmp_path: Path) -> None:
    assert golive("init", env={"GOLIVE_HOME": str(tmp_path / "h")}).returncode == 0
    assert (tmp_path / "h" / "admin.token").exists()
    (tmp_path / "cwd").mkdir()
    env = {k: v for k, v in os.environ.items() if k != "GOLIVE_HOME"}
    result = subprocess.run(
        [*GOLIVE, "init"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path / "cwd",
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "cwd" / ".golive" / "admin.token").exists()


def test_server_without_a_database_says_to_init(tmp_path: Path) -> None:
    result = golive("server", "--home", str(tmp_path / "empty"))
    assert result.returncode == 1
    assert "Run `golive init" in _flowing(result.stderr)
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "empty" / "golive.db").exists()


def test_server_against_an_unmigrated_database(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    create_engine(f"sqlite:///{home / 'golive.db'}").connect().close()  # an empty file
    result = golive("server", "--home", str(home))
    assert result.returncode == 1
    assert "has no golive schema" in _flowing(result.stderr)
    assert "Traceback" not in result.stderr


def test_server_against_a_database_from_a_newer_golive(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert golive("init", "--home", str(home)).returncode == 0
    engine = create_engine(f"sqlite:///{home / 'golive.db'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999_from_the_future'"))
    engine.dispose()
    result = golive("server", "--home", str(home))
    assert result.returncode == 1
    assert "migrated by a newer golive" in _flowing(result.stderr)
    assert "9999_from_the_future" in result.stderr
    assert "Traceback" not in result.stderr
    refused = golive("db", "upgrade", "--home", str(home))
    assert refused.returncode == 1
    assert "newer golive" in _flowing(refused.stderr)


def test_server_against_an_older_schema_says_upgrade(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert golive("init", "--home", str(home)).returncode == 0
    stepped_back = subprocess.run(
        [
            sys.executable,
            "-c",
            "from alembic import command; from golive.db import Database, alembic_config;"
            f"db = Database('sqlite:///{home / 'golive.db'}');"
            "command.downgrade(alembic_config(db.engine), '0001')",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert stepped_back.returncode == 0, stepped_back.stderr
    assert "state: older" in _flowing(golive("db", "status", "--home", str(home)).stdout)

    refused = golive("server", "--home", str(home))
    assert refused.returncode == 1
    assert "Run `golive db upgrade`" in _flowing(refused.stderr)
    assert "Traceback" not in refused.stderr

    upgraded = golive("db", "upgrade", "--home", str(home))
    assert upgraded.returncode == 0, upgraded.stderr
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert f"from 0001 to {head}" in _flowing(upgraded.stdout)
    with running("server", "--home", str(home)) as (_process, url):
        assert httpx.get(f"{url}/api/v1/health").json()["schema"]["state"] == "current"


def test_up_serves_health_and_docs_on_a_fresh_folder(tmp_path: Path) -> None:
    with running("up", "--home", str(tmp_path / "fresh")) as (process, url):
        assert process.poll() is None, process.stdout.read() if process.stdout else ""
        health = httpx.get(f"{url}/api/v1/health")
        docs = httpx.get(f"{url}/docs")
        openapi = httpx.get(f"{url}/openapi.json")
    assert health.status_code == 200
    assert health.json()["status"] == "ok"
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert "/api/v1/targets" in openapi.json()["paths"]
    assert (tmp_path / "fresh" / "admin.token").exists()


def test_json_logs_one_object_per_request(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert golive("init", "--home", str(home)).returncode == 0
    with running("server", "--home", str(home), "--log-format", "json") as (process, url):
        httpx.get(f"{url}/api/v1/health", headers={"X-Request-Id": "trace-me-42"})
        time.sleep(0.3)
        process.terminate()
        output = process.stdout.read() if process.stdout else ""
    import json

    entries = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    request = [e for e in entries if e.get("request_id") == "trace-me-42"]
    assert request, output
    assert request[0]["status"] == 200
    assert request[0]["level"] == "info"
    assert "duration_ms" in request[0]


@pytest.mark.postgresql
def test_golive_database_url_switches_to_postgresql(
    postgres: PostgresCluster, tmp_path: Path
) -> None:
    from tests.conftest import fresh_postgres_url

    url = fresh_postgres_url(postgres, migrated=False)
    env = {"GOLIVE_DATABASE_URL": url}
    home = tmp_path / "home"
    unmigrated = golive("server", "--home", str(home), env=env)
    assert unmigrated.returncode == 1
    assert "has no golive schema" in _flowing(unmigrated.stderr)
    assert golive("init", "--home", str(home), env=env).returncode == 0
    assert not (home / "golive.db").exists()
    secret = (home / "admin.token").read_text().strip()
    with running("server", "--home", str(home), env=env) as (_, api):
        created = httpx.post(
            f"{api}/api/v1/components",
            json={"name": "pg", "kind": "software"},
            headers={"Authorization": f"Bearer {secret}"},
        )
    assert created.status_code == 201
    engine = create_engine(url)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT name FROM components")).scalar_one() == "pg"
    engine.dispose()
