"""`golive server` believes X-Forwarded-* only from the proxies GOLIVE_TRUSTED_PROXIES names."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.cli.test_local_commands import golive, running

pytestmark = pytest.mark.slow
OVER_TLS = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}


def _sign_in_cookie(url: str) -> str:
    answer = httpx.get(f"{url}/console/sign-in", headers=OVER_TLS)
    assert answer.status_code == 200, answer.text
    return answer.headers["set-cookie"].lower()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    folder = tmp_path / "home"
    assert golive("init", "--home", str(folder)).returncode == 0
    return folder


def test_without_trusted_proxies_forwarded_headers_are_ignored(home: Path) -> None:
    # Anyone could send them: a cookie marked Secure on a client's word would be wrong
    # either way, so by default the server goes by its own connection (plain http here).
    with running("server", "--home", str(home), env={"GOLIVE_TRUSTED_PROXIES": ""}) as (
        _process,
        url,
    ):
        assert "secure" not in _sign_in_cookie(url)


def test_a_trusted_proxy_over_tls_gets_secure_cookies(home: Path) -> None:
    env = {"GOLIVE_TRUSTED_PROXIES": "10.0.0.0/8, 127.0.0.1"}
    with running("server", "--home", str(home), env=env) as (_process, url):
        assert "secure" in _sign_in_cookie(url)
        plain = httpx.get(f"{url}/console/sign-in")  # the proxy says plain http: no Secure
        assert "secure" not in plain.headers["set-cookie"].lower()


def test_a_proxy_not_named_is_not_believed(home: Path) -> None:
    env = {"GOLIVE_TRUSTED_PROXIES": "10.0.0.1"}
    with running("server", "--home", str(home), env=env) as (_process, url):
        assert "secure" not in _sign_in_cookie(url)


def test_a_bad_trusted_proxies_value_is_refused_with_what_to_write(home: Path) -> None:
    finished = golive(
        "server", "--home", str(home), env={"GOLIVE_TRUSTED_PROXIES": "127.0.0.1,proxy.lan"}
    )
    assert finished.returncode == 1
    assert "Traceback" not in finished.stderr
    assert "GOLIVE_TRUSTED_PROXIES must list IP addresses or networks" in finished.stderr
    assert "'proxy.lan'" in finished.stderr
