"""The engine does not wait out its tick interval when there is work: a new deployment
starts, and a wave that is over gives way to the next, at once. Shown with a
`golive worker` whose interval is 30 s beside `golive server --no-engine`, and a fleet of
virtual agents waiting in their check-ins."""

from __future__ import annotations

import time
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from golive.cli.local import initialise
from golive.settings import Settings
from tests.support.crash_rollout import (
    COMPONENT,
    ENVIRONMENT,
    VERSION,
    GoliveProcess,
    add_version,
    fleet_and_record_problems,
    read_records,
    start_server,
)
from tests.support.postgres import free_port
from tests.support.virtual_fleet import VirtualFleet, seed_agents

pytestmark = pytest.mark.slow

INTERVAL = 30.0


def test_waves_follow_each_other_without_waiting_for_the_interval(tmp_path: Path) -> None:
    home = tmp_path / "home"
    settings = Settings(home=home)
    token = initialise(settings)
    assert token is not None
    names = [f"vm-{n:02d}" for n in range(1, 21)]
    credentials = seed_agents(settings.database_url, ENVIRONMENT, names, {"role": "web"})
    port = free_port()
    server = start_server(home, port, tmp_path / "server.log", None, "--no-engine")
    worker = GoliveProcess(
        ["worker", "--home", str(home), "--interval", str(INTERVAL), "--no-ssh"],
        tmp_path / "worker.log",
    ).start()
    url = f"http://127.0.0.1:{port}"
    fleet = VirtualFleet(url, credentials, step_seconds=(0.0, 0.0), seed=3, wait=20, batch=True)
    try:
        with (
            httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as client,
            fleet.running(),
        ):
            add_version(client, COMPONENT, VERSION)
            time.sleep(2)  # the worker's first tick is behind it: it now waits 30 s
            created = client.post(
                "/api/v1/deployments",
                json={
                    "environment": ENVIRONMENT,
                    "versions": [f"{COMPONENT}@{VERSION}"],
                    "strategy": "phased",
                    "waves": "1,25%,50%,100%",
                    "bake": "0s",
                },
            )
            assert created.status_code == 201, created.text
            number = int(created.json()["id"])
            began = time.monotonic()
            while time.monotonic() - began < INTERVAL:
                shown = client.get(f"/api/v1/deployments/{number}").json()
                if shown["state"] == "succeeded":
                    break
                time.sleep(0.1)
            assert shown["state"] == "succeeded", shown["state"]
    finally:
        server.stop()
        worker.stop()
    created_at = datetime.fromisoformat(shown["created_at"])
    took = (datetime.fromisoformat(shown["finished_at"]) - created_at).total_seconds()
    # Four waves and the start: at the 30 s interval that would be two minutes or more.
    assert took < 10, f"the rollout took {took:.1f} s; the worker waited out its interval"
    assert [len(wave["targets"]) for wave in shown["waves"]] == [1, 4, 5, 10]
    problems = fleet_and_record_problems(
        fleet, read_records(settings.database_url, number), set(names), VERSION
    )
    assert problems == []
