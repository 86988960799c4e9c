"""The demo fleet's layout and demo-shop's releases: the hooks really run, as the agent runs
them (its archive unpacking and hook runner), and 1.2.0-bad really fails its health check."""

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path

import pytest

from golive.agent.archive import unpack
from golive.agent.hooks import HookContext, run_hook
from golive.demo import local_url
from golive.demo.layout import COMPONENT, HOOKS, TARGETS, VERSIONS, DemoVersion, artifact


def test_a_dozen_targets_in_three_environments() -> None:
    assert Counter(t.environment for t in TARGETS) == {"development": 3, "test": 3, "production": 6}
    assert len({t.name for t in TARGETS}) == 12
    production = [t for t in TARGETS if t.environment == "production"]
    assert Counter(t.site for t in production) == {"lon": 3, "ams": 3}
    assert all(t.labels["role"] == "web" and t.labels["fleet"] == "demo" for t in TARGETS)


def test_each_version_has_the_same_bytes_every_time() -> None:
    digests = {v.version: hashlib.sha256(artifact(v)).hexdigest() for v in VERSIONS}
    assert digests == {v.version: hashlib.sha256(artifact(v)).hexdigest() for v in VERSIONS}
    assert len(set(digests.values())) == 3


def _install(version: DemoVersion, folder: Path) -> tuple[int | None, str]:
    """Unpack the release and run its hooks as the agent does; the health check's result."""
    archive = folder / version.filename
    archive.write_bytes(artifact(version))
    release = folder / "release"
    release.mkdir()
    unpack(archive, release, version.filename)
    context = HookContext(folder, 1, "install", COMPONENT, version.version, "0" * 64, release, None)
    started = run_hook("post_install", HOOKS["post_install"], release, context, 30)
    assert started.succeeded, started.output
    checked = run_hook("health_check", HOOKS["health_check"], release, context, 30)
    return checked.exit_code, checked.output


@pytest.mark.parametrize("version", VERSIONS, ids=[v.version for v in VERSIONS])
def test_the_health_check_passes_except_on_the_bad_build(
    version: DemoVersion, tmp_path: Path
) -> None:
    code, output = _install(version, tmp_path)
    if version.version.endswith("-bad"):
        assert code == 1
        assert "unhealthy: checkout is down" in output
    else:
        assert code == 0, output
        assert f"demo-shop {version.version} is healthy" in output


def test_the_health_check_fails_when_another_version_is_serving(tmp_path: Path) -> None:
    release = tmp_path / "release"
    release.mkdir()
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(artifact(VERSIONS[0]))
    unpack(archive, release, "a.tar.gz")
    # The health check asked about 1.1.0 while the release started is 1.0.0.
    context = HookContext(tmp_path, 1, "install", COMPONENT, "1.1.0", "0" * 64, release, None)
    assert run_hook("post_install", HOOKS["post_install"], release, context, 30).succeeded
    checked = run_hook("health_check", HOOKS["health_check"], release, context, 30)
    assert checked.exit_code == 1
    assert "demo-shop 1.1.0 is not serving its page" in checked.output


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8000"),
        ("0.0.0.0", "http://127.0.0.1:8000"),  # noqa: S104 (a value, not a bind)
        ("::", "http://[::1]:8000"),
        ("::1", "http://[::1]:8000"),
        ("golive.example", "http://golive.example:8000"),
    ],
)
def test_agents_reach_the_server_where_it_listens(host: str, url: str) -> None:
    assert local_url(host, 8000) == url
