"""The web console in a real browser against a real server: sign in, start a phased
deployment to real agents and watch it finish, approve a change in the inbox and deploy
under it, see a freeze on the schedule, verify the audit chain. Every page is saved as a
screenshot (test-artifacts/screenshots/), at 1280 px and at a phone's width."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from playwright.sync_api import BrowserContext, Page, expect

from golive.audit.chain import verify_events
from tests.deployments.fleet import HOOKS, NAMES, Fleet
from tests.support.live import LiveServer
from tests.web.conftest import shot, sign_in

DONE = re.compile(r"succeeded|failed|rolled back|aborted")


def _events(live: LiveServer, **filters: str) -> list[dict[str, Any]]:
    with live.client("auditor") as http:
        found: list[dict[str, Any]] = http.get(
            "/api/v1/audit/events", params={"limit": 1000, **filters}
        ).json()["items"]
    return found


def test_sign_in_with_a_token_and_out_again(
    live: LiveServer, page: Page, context: BrowserContext
) -> None:
    page.goto(f"{live.url}/")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next="))
    shot(page, "sign-in")
    page.get_by_label("API token").fill("glv_not-a-real-token")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("the token is not valid")

    # By keyboard alone: the token field has the focus, Enter signs in, and the first
    # Tab on a page reaches the link that skips to its content.
    page.keyboard.type(live.tokens["deployment_manager"])
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Skip to content"
    cookie = next(c for c in context.cookies() if c["name"] == "golive_session")
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["secure"] is False  # plain http here; Secure when served over TLS
    assert live.tokens["deployment_manager"] not in cookie["value"]
    # What the role may not see is not offered.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Deployments")).to_be_visible()
    expect(nav.get_by_role("link", name="Audit")).to_have_count(0)

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/console/sign-in"))
    page.goto(f"{live.url}/console/deployments")
    expect(page).to_have_url(re.compile(r"/console/sign-in\?next=%2Fconsole%2Fdeployments"))


def test_a_phased_deployment_started_from_the_form_runs_to_the_end(
    live: LiveServer, page: Page, tmp_path: Path
) -> None:
    fleet = Fleet.enrolled(live, tmp_path / "fleet")
    fleet.add_version("1.0")
    with live.client() as http:  # something for the hardware page to show
        made = http.post(
            "/api/v1/hardware/models",
            json={"name": "edge-box", "vendor": "Acme", "model": "E1", "minimum_stock": 2},
        )
        assert made.status_code == 201, made.text
        item = {"serial": "SN-0001", "model": "edge-box", "store_location": "London, shelf 3"}
        assert http.post("/api/v1/hardware/items", json=item).status_code == 201

    sign_in(page, live, "deployment_manager")
    page.get_by_role("link", name="Start a deployment").first.click()
    page.get_by_label(re.compile("^Versions")).fill("shop@1.0")
    page.get_by_label("Environment").select_option("production")
    page.get_by_label("Strategy").select_option("phased")
    page.get_by_label(re.compile("^Waves")).fill("1,100%")
    page.get_by_label("Hooks").fill(f"health_check={HOOKS['health_check']}")
    page.get_by_label("A deployment manager confirms each wave after the first").check()
    page.get_by_role("button", name="Show the plan").click()
    plan = page.get_by_role("region", name="The plan (nothing recorded yet)")
    expect(plan).to_contain_text("Wave 1: web-01")
    expect(plan).to_contain_text("Wave 2: web-02, web-03")
    shot(page, "deployment-new")
    with live.client("auditor") as http:
        assert http.get("/api/v1/deployments").json()["items"] == []  # a plan records nothing

    page.get_by_role("button", name="Start deployment").click()
    expect(page).to_have_url(re.compile(r"/console/deployments/\d+\?done=created"))
    number = int(re.findall(r"/deployments/(\d+)", page.url)[0])
    expect(page.get_by_role("status").first).to_contain_text("Deployment recorded")
    page.evaluate("window.stayedOnThePage = true")  # gone if the page were reloaded

    with fleet.running(NAMES):
        live_region = page.locator("#live")
        # htmx swaps in the new state every second: wave 1 finishes, wave 2 waits.
        expect(live_region).to_contain_text("waiting for confirmation", timeout=45_000)
        expect(live_region.get_by_role("button", name="Confirm next wave")).to_be_visible()
        shot(page, "deployment-waiting")
        page.get_by_label("Reason (recorded in the audit trail)").fill("canary looks healthy")
        live_region.get_by_role("button", name="Confirm next wave").click()
        expect(page.get_by_role("status").first).to_contain_text("The next wave is confirmed")
        page.evaluate("window.stayedOnThePage = true")
        expect(page.locator("#live .statusline")).to_contain_text("succeeded", timeout=45_000)
    assert page.evaluate("window.stayedOnThePage") is True
    expect(page.locator("#live")).not_to_have_attribute("hx-trigger", re.compile(".+"))
    expect(page.locator("#live")).to_contain_text("3 of 3 targets finished")
    shot(page, "deployment")
    shot(page, "deployment", phone=True)
    confirmed = _events(live, action="deployment.confirm", subject_id=str(number))
    assert [(e["actor"], e["reason"]) for e in confirmed] == [
        ("deployment-manager", "canary looks healthy")
    ]

    page.get_by_role("link", name="Dashboard").click()
    expect(page.locator("table.matrix")).to_contain_text("1.0 on 3 of 3 target(s)")
    shot(page, "dashboard")
    shot(page, "dashboard", phone=True)
    page.get_by_label("Environment").select_option("production")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("table.matrix thead")).to_contain_text("production")

    # Every other page, as this role and as the admin, saved for the record.
    tour = {
        "deployments": "/console/deployments",
        "media": "/console/media",
        "media-component": "/console/media/shop",
        "hardware": "/console/hardware",
        "targets": "/console/targets",
        "target": "/console/targets/web-01",
        "changes": "/console/changes",
        "schedule-week": "/console/schedule",
        "schedule-month": "/console/schedule?view=month",
        "figures": "/console/figures",
    }
    for name, path in tour.items():
        page.goto(f"{live.url}{path}")
        expect(page.locator("main h1")).to_be_visible()
        shot(page, name)
    expect(page.locator(".figure").first).to_contain_text("1")  # one deployment started
    page.goto(f"{live.url}/console/targets/web-01")
    expect(page.locator("main")).to_contain_text("succeeded")


def test_a_change_approved_in_the_inbox_then_deployed_under(
    live: LiveServer, page: Page, context: BrowserContext
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with live.client() as http:
        body = {"name": "production", "policy": {"requires_change": True}}
        assert http.post("/api/v1/environments", json=body).status_code == 201
        assert (
            http.post("/api/v1/components", json={"name": "shop", "kind": "software"}).status_code
            == 201
        )
        for name in ("web-01", "web-02"):
            target = {"name": name, "environment": "production", "connection": "manual"}
            assert http.post("/api/v1/targets", json=target).status_code == 201
    with live.client("release_manager") as http:
        added = http.post(
            "/api/v1/components/shop/versions",
            params={"version": "2.0", "filename": "shop-2.0.tar.gz"},
            content=b"shop 2.0",
            headers={"Content-Type": "application/octet-stream"},
        )
        assert added.status_code == 201, added.text
        assert http.post("/api/v1/components/shop/versions/2.0/approve").status_code == 200
    with live.client("deployer") as http:
        made = http.post(
            "/api/v1/changes",
            json={
                "title": "Shop 2.0 to production",
                "environments": ["production"],
                "components": ["shop"],
                "planned_windows": [
                    {"start": now.isoformat(), "end": (now + timedelta(hours=2)).isoformat()}
                ],
                "backout_plan": "roll back to 1.0",
                "submit": True,
            },
        )
        assert made.status_code == 201, made.text
        ref = made.json()["ref"]

    sign_in(page, live, "change_authority")
    page.get_by_role("link", name="Changes").click()
    page.get_by_role("link", name=re.compile(r"Approvals inbox \(1\)")).click()
    expect(page.get_by_role("heading", name=re.compile(ref))).to_be_visible()
    shot(page, "inbox")
    page.get_by_label("Reason").fill("risk accepted")
    page.get_by_role("button", name=f"Approve {ref}").click()
    expect(page.get_by_role("status")).to_contain_text("Your approval is recorded")
    expect(page.locator("main")).to_contain_text("Nothing waits for your decision")
    page.goto(f"{live.url}/console/changes/{ref}")
    expect(page.locator(".facts")).to_contain_text("authorised")
    shot(page, "change")
    # The change authority may not deploy: no button for it.
    expect(page.get_by_role("link", name=f"Deploy under {ref}")).to_have_count(0)
    context.clear_cookies()

    sign_in(page, live, "deployment_manager")
    # Without the change, production's policy refuses the deployment, on the form.
    page.goto(f"{live.url}/console/deployments/new?environment=production")
    page.get_by_label(re.compile("^Versions")).fill("shop@2.0")
    page.get_by_label("Strategy").select_option("big_bang")
    page.get_by_role("button", name="Start deployment").click()
    expect(page.get_by_role("alert")).to_contain_text("requires an authorised change")
    expect(page.get_by_label(re.compile("^Versions"))).to_have_value("shop@2.0")
    shot(page, "deployment-refused")
    page.goto(f"{live.url}/console/changes/{ref}")
    page.get_by_role("link", name=f"Deploy under {ref}").click()
    expect(page.get_by_label("Change (the authorised change this runs under)")).to_have_value(ref)
    page.get_by_label(re.compile("^Versions")).fill("shop@2.0")
    page.get_by_label("Strategy").select_option("big_bang")
    page.get_by_role("button", name="Start deployment").click()
    expect(page).to_have_url(re.compile(r"/console/deployments/\d+"))
    expect(page.locator(".facts")).to_contain_text(ref)
    number = int(re.findall(r"/deployments/(\d+)", page.url)[0])
    page.goto(f"{live.url}/console/changes/{ref}")
    expect(page.get_by_role("link", name=f"Deployment {number}")).to_be_visible()
    approvals = _events(live, action="change.approve", subject_id=ref)
    assert [(e["actor"], e["reason"]) for e in approvals] == [("change-authority", "risk accepted")]
    created = _events(live, action="deployment.create", subject_id=str(number))
    assert created[0]["actor"] == "deployment-manager"
    assert created[0]["after"]["change_ref"] == ref


def test_a_freeze_holds_a_deployment_and_shows_on_the_schedule(
    live: LiveServer, page: Page
) -> None:
    """A deny window over production now, and a deployment started into it: the engine
    holds it (waiting for the window, the freeze named, live on its page), and the
    schedule shows the freeze and marks the deployment as clashing with it."""
    now = datetime.now(UTC).replace(microsecond=0, second=0, minute=0)
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
        made = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
        assert made.status_code == 201
        target = {"name": "web-01", "environment": "production", "connection": "manual"}
        assert http.post("/api/v1/targets", json=target).status_code == 201
    with live.client("change_authority") as http:
        freeze = {
            "name": "year-end-freeze",
            "kind": "deny",
            "start": (now - timedelta(hours=1)).replace(tzinfo=None).isoformat(),
            "duration": "6h",
            "scope": {"environments": ["production"]},
        }
        made = http.post("/api/v1/windows", json=freeze)
        assert made.status_code == 201, made.text
    with live.client("release_manager") as http:
        added = http.post(
            "/api/v1/components/shop/versions",
            params={"version": "3.0", "filename": "shop-3.0.tar.gz"},
            content=b"shop 3.0",
            headers={"Content-Type": "application/octet-stream"},
        )
        assert added.status_code == 201, added.text
        assert http.post("/api/v1/components/shop/versions/3.0/approve").status_code == 200

    sign_in(page, live, "deployment_manager")
    page.goto(f"{live.url}/console/deployments/new")
    page.get_by_label(re.compile("^Versions")).fill("shop@3.0")
    page.get_by_label("Strategy").select_option("big_bang")
    page.get_by_role("button", name="Start deployment").click()
    expect(page).to_have_url(re.compile(r"/console/deployments/\d+"))
    number = int(re.findall(r"/deployments/(\d+)", page.url)[0])
    held = page.locator("#live")
    expect(held.locator(".statusline")).to_contain_text("waiting for window")
    expect(held.locator(".reason")).to_contain_text("year-end-freeze")
    expect(held).to_contain_text("0 of 1 targets finished")
    expect(held.get_by_role("button", name="Pause")).to_be_visible()
    shot(page, "deployment-held")
    with live.client("auditor") as http:
        assert http.get(f"/api/v1/deployments/{number}").json()["state"] == "waiting_for_window"

    page.get_by_role("link", name="Schedule").click()
    expect(page.locator(".day .item.k-deny").first).to_contain_text("Freeze: year-end-freeze")
    conflicts = page.get_by_role("region", name=re.compile("Conflicts"))
    expect(conflicts).to_contain_text(f"deployment {number}")
    expect(conflicts).to_contain_text("year-end-freeze")
    clashing = page.locator(".day .item.k-deployment.clash").first
    expect(clashing).to_contain_text("conflict")
    expect(page.locator(".day .item.k-deny.clash").first).to_be_visible()
    shot(page, "schedule-freeze")
    shot(page, "schedule-freeze", phone=True)
    clashing.get_by_role("link", name=f"deployment {number}").click()
    expect(page).to_have_url(re.compile(rf"/console/deployments/{number}$"))


def test_the_audit_chain_verifies_from_the_console(live: LiveServer, page: Page) -> None:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "staging"}).status_code == 201
    sign_in(page, live, "auditor")
    page.get_by_role("link", name="Audit").click()
    expect(page.locator("tbody")).to_contain_text("environment.create")
    page.get_by_label("Action").fill("environment.create")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("tbody tr")).to_have_count(1)
    page.get_by_role("button", name="Verify the chain").click()
    expect(page.locator("#verdict")).to_contain_text("The chain is intact")
    shot(page, "audit")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export (JSON lines)").click()
    lines = Path(download.value.path()).read_text().splitlines()
    verdict = verify_events(json.loads(line) for line in lines)
    assert verdict.ok, verdict
    assert verdict.checked == len(lines) > 0


def test_a_change_raised_in_the_console_reaches_the_authoritys_inbox(
    live: LiveServer, page: Page, context: BrowserContext
) -> None:
    with live.client() as http:
        body = {"name": "production", "policy": {"requires_change": True}}
        assert http.post("/api/v1/environments", json=body).status_code == 201
        made = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
        assert made.status_code == 201
    sign_in(page, live, "deployer")
    page.get_by_role("link", name="Changes").click()
    page.get_by_role("link", name="Raise a change").click()
    page.get_by_label("Title").fill("Shop 3 to production")
    page.get_by_label("production").check()
    page.get_by_label(re.compile("^Components")).fill("shop")
    page.get_by_label("Planned start").fill("2026-12-05T22:00")
    page.get_by_label("Planned end").fill("2026-12-05T21:00")  # before the start
    page.get_by_label("Backout plan").fill("shop 2 again")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_role("alert")).to_contain_text("a planned window must end after it starts")
    expect(page.get_by_label("Title")).to_have_value("Shop 3 to production")
    expect(page.get_by_label("production")).to_be_checked()
    shot(page, "change-refused")
    page.get_by_label("Planned end").fill("2026-12-06T01:00")
    page.get_by_role("button", name="Submit for approval").click()
    expect(page).to_have_url(re.compile(r"/console/changes/CHG-\d+"))
    expect(page.get_by_role("status")).to_contain_text("The change is recorded")
    expect(page.locator(".facts")).to_contain_text("submitted")
    shot(page, "change-raised")
    ref = re.findall(r"/changes/(CHG-\d+)", page.url)[0]
    context.clear_cookies()

    sign_in(page, live, "change_authority")
    page.goto(f"{live.url}/console/changes/inbox")
    expect(page.get_by_role("heading", name=re.compile(ref))).to_be_visible()
    created = _events(live, action="change.create", subject_id=ref)
    assert created[0]["actor"] == "deployer"


def test_a_freeze_defined_in_the_console_shows_on_the_schedule(
    live: LiveServer, page: Page
) -> None:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
    monday = datetime.now(UTC).date() - timedelta(days=datetime.now(UTC).weekday())
    wednesday = monday + timedelta(days=2)
    sign_in(page, live, "change_authority")
    page.get_by_role("link", name="Schedule").click()
    page.get_by_role("link", name="Define a window").click()
    page.get_by_label("Name", exact=True).fill("midweek-freeze")
    page.get_by_role("radio", name=re.compile("Freeze")).check()
    page.get_by_label(re.compile("^Start")).fill(f"{wednesday.isoformat()}T09:00")
    page.get_by_label(re.compile("^Duration")).fill("3h")
    page.get_by_label(re.compile("^Repeats")).fill("FREQ=WEEKLY;BYDAY=XX")  # not a day
    page.get_by_label("production").check()
    page.get_by_role("button", name="Define the window").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Name", exact=True)).to_have_value("midweek-freeze")
    page.get_by_label(re.compile("^Repeats")).fill("FREQ=WEEKLY;BYDAY=WE")
    page.get_by_role("button", name="Define the window").click()
    expect(page).to_have_url(re.compile(r"/console/schedule\?day="))
    expect(page.get_by_role("status")).to_contain_text("Window midweek-freeze is defined")
    expect(page.locator(".k-deny", has_text="midweek-freeze").first).to_be_visible()
    shot(page, "schedule-freeze-defined")
    created = _events(live, action="window.create", subject_id="midweek-freeze")
    assert created[0]["actor"] == "change-authority"
