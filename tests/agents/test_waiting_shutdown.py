"""A real `golive server` answers its agents' waiting check-ins at once when it stops."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from golive.cli.local import initialise
from golive.settings import Settings
from tests.support.crash_rollout import start_server
from tests.support.postgres import free_port
from tests.support.virtual_fleet import seed_agents

pytestmark = pytest.mark.slow


def test_stopping_the_server_answers_waiting_check_ins_at_once(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    initialise(settings)
    [credential] = seed_agents(settings.database_url, "production", ["web-01"]).values()
    port = free_port()
    server = start_server(home, port, tmp_path / "server.log")
    url = f"http://127.0.0.1:{port}/api/v1/agent/desired"
    auth = {"Authorization": f"Bearer {credential}"}
    try:
        first = httpx.get(url, headers=auth, timeout=30)
        assert first.status_code == 200, first.text

        def wait() -> tuple[int, float]:
            began = time.monotonic()
            answer = httpx.get(
                url,
                params={"wait": 60},
                headers={**auth, "If-None-Match": first.headers["etag"]},
                timeout=90,
            )
            return answer.status_code, time.monotonic() - began

        with ThreadPoolExecutor(4) as pool:
            waiting = [pool.submit(wait) for _ in range(4)]
            time.sleep(1.5)
            assert not any(check_in.done() for check_in in waiting), "they should be held"
            stopping = time.monotonic()
            assert server.process is not None
            server.process.terminate()
            answers = [check_in.result(timeout=30) for check_in in waiting]
            server.process.wait(timeout=30)
            stopped_after = time.monotonic() - stopping
    finally:
        server.stop()
    assert [status for status, _ in answers] == [304] * 4, server.output()[-3000:]
    # Answered when the server was told to stop, not after the 60 s wait nor after the
    # 5 s graceful-shutdown limit that cancels requests still running.
    assert all(seconds < 1.5 + 4 for _, seconds in answers), answers
    assert stopped_after < 4, f"the server took {stopped_after:.1f} s to stop"
    assert "Traceback" not in server.output()
