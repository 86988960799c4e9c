"""The console against `golive up`'s demo fleet, as a user meets it after the README's tour:
a real `golive up` process with its 12 real golive-agent children, the admin token it
wrote, and a phased deployment started from the console's form that the browser watches
run to the end. Screenshots go to test-artifacts/screenshots/."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from golive.demo.layout import COMPONENT, HOOKS
from tests.demo.test_fleet import (
    NAMES,
    Server,
    agent_pids,
    is_alive,
    no_strays,
    running,
    wait_for,
)
from tests.web.conftest import shot

pytestmark = pytest.mark.slow
DEVELOPMENT = sorted(name for name in NAMES if name.startswith("dev-"))


def _sign_in(page: Page, url: str, token: str) -> None:
    page.goto(f"{url}/console/")
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()


def test_a_phased_deployment_to_the_demo_fleet_started_from_the_console_runs_to_the_end(
    page: Page, tmp_path: Path
) -> None:
    home = tmp_path / "data"
    with no_strays(home):
        with running("up", "--home", str(home)) as (process, url):
            server = Server(url, home)
            wait_for(lambda: server.checked_in() == NAMES, timeout=60)
            pids = agent_pids(home)
            assert sorted(pids) == NAMES

            _sign_in(page, url, (home / "admin.token").read_text().strip())
            page.get_by_role("link", name="Start a deployment").first.click()
            page.get_by_label(re.compile("^Versions")).fill(f"{COMPONENT}@1.1.0")
            page.get_by_label("Environment").select_option("development")
            page.get_by_label("Strategy").select_option("phased")
            page.get_by_label(re.compile("^Waves")).fill("1,100%")
            page.get_by_label("Hooks").fill("\n".join(f"{k}={v}" for k, v in HOOKS.items()))
            page.get_by_role("button", name="Show the plan").click()
            plan = page.get_by_role("region", name="The plan (nothing recorded yet)")
            expect(plan).to_contain_text(f"Wave 1: {DEVELOPMENT[0]}")
            expect(plan).to_contain_text(f"Wave 2: {', '.join(DEVELOPMENT[1:])}")
            shot(page, "demo-fleet-deployment-new")

            page.get_by_role("button", name="Start deployment").click()
            expect(page).to_have_url(re.compile(r"/console/deployments/\d+\?done=created"))
            number = int(re.findall(r"/deployments/(\d+)", page.url)[0])
            page.evaluate("window.stayedOnThePage = true")  # gone if the page were reloaded
            # The agents poll every second, so the page opens on a deployment still running.
            expect(page.locator("#live")).to_have_attribute("hx-trigger", "every 1s")
            shot(page, "demo-fleet-deployment-running")
            # htmx swaps in the new state every second until the deployment is final.
            expect(page.locator("#live .statusline")).to_contain_text("succeeded", timeout=45_000)
            assert page.evaluate("window.stayedOnThePage") is True
            expect(page.locator("#live")).not_to_have_attribute("hx-trigger", re.compile(".+"))
            expect(page.locator("#live")).to_contain_text("3 of 3 targets finished")
            shot(page, "demo-fleet-deployment")

            shown = server.get(f"/api/v1/deployments/{number}")
            assert shown["state"] == "succeeded", shown
            assert shown["counts"] == {"succeeded": 3}
            assert [len(w["targets"]) for w in shown["waves"]] == [1, 2]
            # The agents installed it for real, ran the hooks (start.sh wrote the page that
            # health.sh checked) and say so.
            for name in DEVELOPMENT:
                pages = (home / "demo" / "agents" / name).rglob("run/index.html")
                assert "demo-shop 1.1.0" in "".join(p.read_text() for p in pages), name
            wait_for(lambda: all(server.reported(COMPONENT, n) for n in DEVELOPMENT), timeout=30)
        # SIGTERM stopped `golive up`, and with it every agent.
        assert process.returncode is not None
        assert not any(is_alive(pid) for pid in pids.values())
        assert agent_pids(home) == {}
