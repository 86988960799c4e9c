"""Shared fixtures: the records on SQLite and PostgreSQL, a live server, the CLI."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from golive.cli.main import main as golive_main
from golive.db import Database, upgrade
from golive.settings import Settings
from tests.support.live import LiveServer, principals_for_every_role, serve
from tests.support.postgres import PostgresCluster, running_cluster, server_binaries

BACKENDS = ["sqlite", "postgresql"]
_counter = itertools.count()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked slow first: on several workers (scripts/test), a long test started
    last would keep one worker busy after the others have run out of work."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresCluster]:
    """One throwaway cluster for the whole run, with a migrated template database."""
    bindir = server_binaries()
    if bindir is None:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) are missing; CI needs them")
        pytest.skip("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    with running_cluster(bindir) as cluster:
        admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(text("CREATE DATABASE golive_template"))
        admin.dispose()
        template = Database(cluster.url("golive_template"))
        upgrade(template.engine)
        template.dispose()
        yield cluster


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "golive.db"
    database = Database(f"sqlite:///{path}")
    upgrade(database.engine)
    with database.engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    database.dispose()
    return path


def fresh_postgres_url(cluster: PostgresCluster, *, migrated: bool = True) -> str:
    name = f"t{os.getpid()}_{next(_counter)}"
    admin = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        template = " TEMPLATE golive_template" if migrated else ""
        connection.execute(text(f'CREATE DATABASE "{name}"{template}'))
    admin.dispose()
    return cluster.url(name)


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> str:
    """A migrated, empty database of the test's backend."""
    if backend == "postgresql":
        cluster: PostgresCluster = request.getfixturevalue("postgres")
        return fresh_postgres_url(cluster)
    path = tmp_path / "golive.db"
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = Database(database_url)
    yield database
    database.dispose()


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    return Settings(home=home, database_url=database_url)


@pytest.fixture
def live(settings: Settings, db: Database) -> Iterator[LiveServer]:
    """A running server whose database holds one principal (and token) per role."""
    tokens = principals_for_every_role(db)
    with serve(settings, db) as server:
        server.tokens = tokens
        yield server


class Cli:
    """Runs ``golive`` in this process against a server, as a user's shell would."""

    def __init__(
        self, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, config_dir: Path
    ) -> None:
        self.capsys = capsys
        self.monkeypatch = monkeypatch
        monkeypatch.setenv("GOLIVE_CONFIG", str(config_dir / "config.json"))
        monkeypatch.setenv("COLUMNS", "200")

    def use(self, url: str, token: str | None) -> None:
        self.monkeypatch.setenv("GOLIVE_URL", url)
        if token is None:
            self.monkeypatch.delenv("GOLIVE_TOKEN", raising=False)
        else:
            self.monkeypatch.setenv("GOLIVE_TOKEN", token)

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = golive_main(list(args))
        captured = self.capsys.readouterr()
        return code, captured.out, captured.err


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Cli:
    return Cli(capsys, monkeypatch, tmp_path)
