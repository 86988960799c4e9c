"""The web console's tests: a real server (``live``), real golive-agent processes where a
deployment must run, and a real browser: Debian's Chromium driven by Playwright (never a
browser Playwright downloads). One browser serves each test module; each test gets a
fresh context (its own cookies) and saves screenshots under test-artifacts/screenshots/.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from golive.settings import Settings
from tests.deployments.fleet import fleet_settings
from tests.support.live import SSL_CONTEXT, LiveServer

CHROMIUM = Path("/usr/bin/chromium")
REPO_ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = REPO_ROOT / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def backend() -> str:
    # The console's pages read and write through the services, which the rest of the
    # suite runs on SQLite and PostgreSQL; the browser tests run on SQLite to stay fast.
    return "sqlite"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return fleet_settings(tmp_path, database_url)  # an engine tick of 0.1 s


# One browser a module, not a session: Playwright's sync API keeps an asyncio loop running
# on the main thread while it is started, and a test elsewhere that calls asyncio.run()
# (the SSH executor's) may run in the same worker between two browser tests (scripts/test
# runs the suite on several workers, in any order).
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Debian's Chromium ({CHROMIUM}) is missing: run scripts/ensure-chromium "
            "(scripts/test runs it), then run the tests again."
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    made = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
    made.set_default_timeout(15_000)
    yield made
    made.close()


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


def sign_in(page: Page, live: LiveServer, role: str) -> None:
    """Sign in through the form, as a person would, with the token of ``role``."""
    page.goto(f"{live.url}/console/")
    assert "/console/sign-in" in page.url
    page.get_by_label("API token").fill(live.tokens[role])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r".*/console/$"))


def shot(page: Page, name: str, *, phone: bool = False) -> Path:
    """Save a full-page screenshot (at phone width when asked) as a test artefact."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}{'-phone' if phone else ''}.png"
    if phone:
        page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    page.screenshot(path=str(path), full_page=True)
    if phone:
        page.set_viewport_size(DESKTOP)  # type: ignore[arg-type]
    return path


class ConsoleClient:
    """A plain HTTP client signed in to the console (for forged posts and role checks)."""

    def __init__(self, live: LiveServer, role: str) -> None:
        self.http = httpx.Client(
            base_url=live.url, timeout=30, follow_redirects=False, verify=SSL_CONTEXT
        )
        form = self.http.get("/console/sign-in")
        assert form.status_code == 200, form.text
        signin_csrf = _hidden(form.text, "csrf_token")
        answer = self.http.post(
            "/console/sign-in",
            data={"token": live.tokens[role], "csrf_token": signin_csrf, "next": "/console/"},
        )
        assert answer.status_code == 303, answer.text
        self.csrf = _hidden(self.http.get("/console/").text, "csrf_token")

    def get(self, path: str) -> httpx.Response:
        return self.http.get(path)

    def post(self, path: str, data: dict[str, str] | dict[str, str | list[str]]) -> httpx.Response:
        return self.http.post(path, data=data)

    def close(self) -> None:
        self.http.close()


def _hidden(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert found is not None, f"no hidden field {name} in the page"
    return found.group(1)
