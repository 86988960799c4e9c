"""Roles and forgery in the console, over plain HTTP against the real server: a principal
sees no button for a decision its roles do not allow, and a form post is refused (403,
nothing recorded) without this session's CSRF token, with another session's, or with a
valid one from a role that lacks the permission. Pages need the permissions the API's
routes need. The tables below are written by hand, as in tests/auth/test_role_matrix.py.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from golive.auth.roles import Role
from tests.conftest import BACKENDS
from tests.support.live import LiveServer
from tests.web.conftest import ConsoleClient

STAFF = {
    "admin",
    "deployment_manager",
    "deployer",
    "change_authority",
    "release_manager",
    "supplier",
    "auditor",
}
PAGES = {
    "/console/deployments": STAFF,
    "/console/deployments/new": {"admin", "deployment_manager", "deployer"},
    "/console/media": STAFF,
    "/console/media/shop": STAFF,
    "/console/hardware": STAFF,
    "/console/changes": STAFF,
    "/console/changes/inbox": STAFF,
    "/console/changes/new": {
        "admin",
        "deployment_manager",
        "deployer",
        "release_manager",
        "supplier",
    },
    "/console/schedule": STAFF,
    "/console/windows/new": {"admin", "change_authority"},
    "/console/targets": STAFF,
    "/console/targets/web-01": STAFF,
    "/console/audit": {"admin", "auditor"},
    "/console/audit/verify": {"admin", "auditor"},
    "/console/audit/export": {"admin", "auditor"},
    "/console/figures": {"admin", "auditor", "deployment_manager"},
}


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Plain HTTP is quick: these run on SQLite and on PostgreSQL, as the API's tests do."""
    return str(request.param)


@pytest.fixture
def estate(live: LiveServer) -> dict[str, Any]:
    """production with two targets, shop 1 (approved) and 2 (quarantined), and a phased
    deployment of shop 1 that waits for a deployment manager to confirm its second wave."""
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
        made = http.post("/api/v1/components", json={"name": "shop", "kind": "software"})
        assert made.status_code == 201
        for name in ("web-01", "web-02"):
            target = {"name": name, "environment": "production", "connection": "manual"}
            assert http.post("/api/v1/targets", json=target).status_code == 201
    with live.client("release_manager") as http:
        for version in ("1", "2"):
            added = http.post(
                "/api/v1/components/shop/versions",
                params={"version": version, "filename": f"shop-{version}.tar.gz"},
                content=f"shop {version}".encode(),
                headers={"Content-Type": "application/octet-stream"},
            )
            assert added.status_code == 201, added.text
        assert http.post("/api/v1/components/shop/versions/1/approve").status_code == 200
    with live.client("deployment_manager") as http:
        created = http.post(
            "/api/v1/deployments",
            json={
                "versions": ["shop@1"],
                "environment": "production",
                "strategy": "phased",
                "waves": "1,100%",
                "confirm_waves": True,
            },
        )
        assert created.status_code == 201, created.text
    return {"deployment": created.json()["id"]}


def _actions(live: LiveServer) -> list[tuple[str, str, str]]:
    with live.client("auditor") as http:
        items = http.get("/api/v1/audit/events", params={"limit": 1000}).json()["items"]
    return [(e["actor"], e["action"], e["subject_id"]) for e in items]


def _decisions(live: LiveServer) -> list[tuple[str, str, str]]:
    wanted = ("deployment.pause", "deployment.confirm", "version.approve")
    return [a for a in _actions(live) if a[1] in wanted and a[0] != "release-manager"]


def test_buttons_are_shown_only_to_roles_that_may_use_them(
    live: LiveServer, estate: dict[str, Any]
) -> None:
    page = f"/console/deployments/{estate['deployment']}"
    expected = {
        "deployment_manager": {"confirm", "pause", "abort", "rollback"},
        "admin": {"confirm", "pause", "abort", "rollback"},
        "deployer": {"pause", "abort", "rollback"},
        "auditor": set(),
        "change_authority": set(),
        "release_manager": set(),
    }
    for role, buttons in expected.items():
        client = ConsoleClient(live, role)
        html = client.get(page).text
        shown = {
            verb for verb in ("confirm", "pause", "abort", "rollback") if f'id="do-{verb}"' in html
        }
        assert shown == buttons, role
        media = client.get("/console/media/shop").text
        may_approve = role in ("admin", "deployment_manager", "release_manager")
        assert ('id="approve-2"' in media) is may_approve, role
        assert ("/console/deployments/new" in client.get("/console/").text) is (
            role in ("admin", "deployment_manager", "deployer")
        ), role
        client.close()


def test_forged_form_posts_are_refused_and_change_nothing(
    live: LiveServer, estate: dict[str, Any]
) -> None:
    number = estate["deployment"]
    deployer = ConsoleClient(live, "deployer")
    manager = ConsoleClient(live, "deployment_manager")
    auditor = ConsoleClient(live, "auditor")
    pause = f"/console/deployments/{number}/pause"
    confirm = f"/console/deployments/{number}/confirm"
    before = _decisions(live)

    missing = deployer.post(pause, {"reason": "no token"})
    assert missing.status_code == 403
    assert "CSRF token" in missing.text
    wrong = deployer.post(pause, {"reason": "forged", "csrf_token": "0" * 43})
    assert wrong.status_code == 403
    someone_elses = deployer.post(pause, {"reason": "stolen", "csrf_token": manager.csrf})
    assert someone_elses.status_code == 403
    # Valid token, but the role lacks the permission: the API's 403 and its sentence.
    not_allowed = deployer.post(confirm, {"csrf_token": deployer.csrf})
    assert not_allowed.status_code == 403
    assert "deployments:confirm needs one of the roles" in not_allowed.text
    auditor_pause = auditor.post(pause, {"csrf_token": auditor.csrf})
    assert auditor_pause.status_code == 403
    approve = deployer.post("/console/media/shop/2/approve", {"csrf_token": deployer.csrf})
    assert approve.status_code == 403
    assert "media:approve needs one of the roles" in approve.text
    # No session at all: sent to sign in, nothing done.
    stranger = httpx.Client(base_url=live.url, follow_redirects=False)
    anonymous = stranger.post(pause, data={"csrf_token": deployer.csrf})
    assert anonymous.status_code == 303
    assert anonymous.headers["location"].startswith("/console/sign-in")
    stranger.close()
    assert _decisions(live) == before
    with live.client("auditor") as http:
        shown = http.get(f"/api/v1/deployments/{number}").json()
        assert shown["state"] != "paused"
        assert shown["confirmed"] == []
        version = http.get("/api/v1/components/shop/versions/2").json()
        assert version["status"] == "quarantined"

    # The same posts, properly made by roles that may: done, and audited as them.
    paused = deployer.post(pause, {"reason": "looking", "csrf_token": deployer.csrf})
    assert paused.status_code == 303, paused.text
    confirmed = manager.post(confirm, {"csrf_token": manager.csrf})
    assert confirmed.status_code == 303, confirmed.text
    done = [a for a in _decisions(live) if a not in before]
    assert done == [
        ("deployer", "deployment.pause", str(number)),
        ("deployment-manager", "deployment.confirm", str(number)),
    ]
    for client in (deployer, manager, auditor):
        client.close()


def test_pages_need_the_permissions_the_api_needs(live: LiveServer, estate: dict[str, Any]) -> None:
    wrong = []
    for role in Role:
        client = ConsoleClient(live, role.value)
        assert client.get("/console/").status_code == 200  # a welcome page at least
        for path, allowed in PAGES.items():
            status = client.get(path).status_code
            expected = 200 if role.value in allowed else 403
            if status != expected:
                wrong.append(f"{role.value} GET {path}: {status} (expected {expected})")
        client.close()
    assert wrong == []


def test_console_routes_stay_out_of_the_api_document(live: LiveServer) -> None:
    paths = live.app.openapi()["paths"]
    assert not [path for path in paths if not path.startswith(("/api/", "/tuf/", "/metrics"))]


def test_a_session_ends_with_its_token_and_cannot_be_forged(
    live: LiveServer, estate: dict[str, Any]
) -> None:
    deployer = ConsoleClient(live, "deployer")
    assert deployer.get("/console/deployments").status_code == 200
    cookie = deployer.http.cookies["golive_session"]
    tampered = cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")
    deployer.http.cookies.set("golive_session", tampered, path="/console")
    assert deployer.get("/console/deployments").status_code == 307
    deployer.http.cookies.set("golive_session", cookie, path="/console")
    assert deployer.get("/console/deployments").status_code == 200
    with live.client() as http:
        tokens = http.get("/api/v1/tokens").json()["items"]
        mine = next(t["id"] for t in tokens if t["principal"] == "deployer")
        assert http.post(f"/api/v1/tokens/{mine}/revoke", json={}).status_code == 200
    gone = deployer.get("/console/deployments")
    assert gone.status_code == 307
    assert gone.headers["location"].startswith("/console/sign-in")
    deployer.close()


def test_cookies_are_secure_over_tls_and_unknown_pages_are_pages(live: LiveServer) -> None:
    # The test server trusts its own loopback proxy, as uvicorn does by default: a request
    # that reached the proxy over TLS gets cookies that only travel over TLS.
    tls = {"X-Forwarded-Proto": "https"}
    with httpx.Client(base_url=live.url, headers=tls, follow_redirects=False) as http:
        form = http.get("/console/sign-in")
        assert "secure" in form.headers["set-cookie"].lower()
        csrf = form.text.split('name="csrf_token" value="')[1].split('"')[0]
        nonce = form.headers["set-cookie"].split("golive_signin=")[1].split(";")[0]
        # httpx keeps Secure cookies for https URLs: hand this one back as the browser would.
        http.cookies.set("golive_signin", nonce, path="/console")
        signed = http.post(
            "/console/sign-in", data={"token": live.tokens["auditor"], "csrf_token": csrf}
        )
        assert signed.status_code == 303
        session = next(
            v
            for k, v in signed.headers.multi_items()
            if k == "set-cookie" and "golive_session" in v
        )
        assert "secure" in session.lower()
        assert "httponly" in session.lower()
        assert "samesite=strict" in session.lower()
        assert "path=/console" in session.lower()
    auditor = ConsoleClient(live, "auditor")
    missing = auditor.get("/console/no-such-page")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("text/html")
    assert "frame-ancestors 'none'" in missing.headers["content-security-policy"]
    auditor.close()


def test_refusals_come_back_as_the_service_words_them(
    live: LiveServer, estate: dict[str, Any]
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with live.client("deployer") as http:
        made = http.post(
            "/api/v1/changes",
            json={
                "title": "Shop 1 to production",
                "environments": ["production"],
                "planned_windows": [
                    {"start": now.isoformat(), "end": (now + timedelta(hours=1)).isoformat()}
                ],
                "submit": True,
            },
        )
        assert made.status_code == 201, made.text
        ref = made.json()["ref"]
    decide = f"/console/changes/{ref}/decide"
    # Deciding on one's own change is the service's refusal, not the console's.
    deployer = ConsoleClient(live, "deployer")
    own = deployer.post(decide, {"decision": "approve", "csrf_token": deployer.csrf})
    assert own.status_code == 403
    assert "may not decide on it" in own.text
    deployer.close()
    authority = ConsoleClient(live, "change_authority")
    bare = authority.post(decide, {"decision": "reject", "csrf_token": authority.csrf})
    assert bare.status_code == 422
    assert "a rejection needs a reason" in bare.text
    rejected = authority.post(
        decide, {"decision": "reject", "reason": "no backout plan", "csrf_token": authority.csrf}
    )
    assert rejected.status_code == 303
    assert "rejected" in authority.get(f"/console/changes/{ref}").text
    authority.close()

    manager = ConsoleClient(live, "release_manager")
    unexplained = manager.post("/console/media/shop/1/withdraw", {"csrf_token": manager.csrf})
    assert unexplained.status_code == 422
    assert "withdrawing a version needs a reason" in unexplained.text
    withdrawn = manager.post(
        "/console/media/shop/2/withdraw", {"reason": "superseded", "csrf_token": manager.csrf}
    )
    assert withdrawn.status_code == 303
    with live.client("auditor") as http:
        assert http.get("/api/v1/components/shop/versions/2").json()["status"] == "withdrawn"
    manager.close()


def _changes(live: LiveServer) -> list[dict[str, Any]]:
    with live.client("auditor") as http:
        items: list[dict[str, Any]] = http.get("/api/v1/changes").json()["items"]
    return items


def test_a_change_raised_from_the_form_is_recorded_as_the_api_would(
    live: LiveServer, estate: dict[str, Any]
) -> None:
    deployer = ConsoleClient(live, "deployer")
    auditor = ConsoleClient(live, "auditor")
    assert "Raise a change" in deployer.get("/console/changes").text
    assert "Raise a change" not in auditor.get("/console/changes").text
    form: dict[str, str | list[str]] = {
        "csrf_token": deployer.csrf,
        "title": "Shop 2 to production",
        "type": "normal",
        "risk": "low",
        "environments": ["production"],
        "components": "shop",
        "window_start": "2026-12-05T22:00",
        "window_end": "2026-12-06T01:30",
        "window_tz": "Europe/London",
        "backout_plan": "back to shop 1",
        "external_ref": "CHG0030001",
        "intent": "submit",
    }
    before = len(_changes(live))

    # Bad input: the form again, saying what is wrong, with what was typed; nothing saved.
    wrong = {**form, "window_end": "2026-12-05T21:00"}
    refused = deployer.post("/console/changes", wrong)
    assert refused.status_code == 422, refused.text
    assert "planned windows #1: a planned window must end after it starts" in refused.text
    assert 'value="Shop 2 to production"' in refused.text
    half = deployer.post("/console/changes", {**form, "window_end": ""})
    assert half.status_code == 422
    assert "needs both its start and its end" in half.text
    no_place = deployer.post("/console/changes", {**form, "environments": []})
    assert no_place.status_code == 422
    forged = deployer.post("/console/changes", {**form, "csrf_token": "0" * 43})
    assert forged.status_code == 403
    not_allowed = auditor.post("/console/changes", {**form, "csrf_token": auditor.csrf})
    assert not_allowed.status_code == 403
    assert len(_changes(live)) == before

    made = deployer.post("/console/changes", form)
    assert made.status_code == 303, made.text
    ref = made.headers["location"].split("/console/changes/")[1].split("?")[0]
    assert made.headers["location"].endswith("?done=created")
    assert "The change is recorded" in deployer.get(made.headers["location"]).text
    with live.client("auditor") as http:
        shown = http.get(f"/api/v1/changes/{ref}").json()
    assert shown["state"] == "submitted"
    assert shown["requester"] == "deployer"
    assert shown["environments"] == ["production"]
    assert shown["components"] == ["shop"]
    assert shown["external_ref"] == "CHG0030001"
    # 22:00 in London in December is 22:00 UTC (no summer time then).
    [window] = shown["planned_windows"]
    assert window["start"].startswith("2026-12-05T22:00:00")
    assert window["end"].startswith("2026-12-06T01:30:00")
    # The same reference in the ITSM tool twice is refused (409), on the form.
    again = deployer.post("/console/changes", {**form, "title": "Later", "intent": "draft"})
    assert again.status_code == 409
    assert "CHG0030001" in again.text
    draft = deployer.post(
        "/console/changes", {**form, "title": "Later", "intent": "draft", "external_ref": ""}
    )
    assert draft.status_code == 303, draft.text
    later = draft.headers["location"].split("/console/changes/")[1].split("?")[0]
    with live.client("auditor") as http:
        assert http.get(f"/api/v1/changes/{later}").json()["state"] == "draft"
    deployer.close()
    auditor.close()


def _windows(live: LiveServer) -> list[str]:
    with live.client("auditor") as http:
        answer = http.get("/api/v1/windows")
        assert answer.status_code == 200, answer.text
    return [w["name"] for w in answer.json()["items"]]


def test_a_window_defined_from_the_form_is_recorded_as_the_api_would(
    live: LiveServer, estate: dict[str, Any]
) -> None:
    authority = ConsoleClient(live, "change_authority")
    deployer = ConsoleClient(live, "deployer")
    assert "Define a window" in authority.get("/console/schedule").text
    assert "Define a window" not in deployer.get("/console/schedule").text
    form: dict[str, str | list[str]] = {
        "csrf_token": authority.csrf,
        "name": "saturday-freeze",
        "kind": "deny",
        "start": "2026-12-05T22:00",
        "duration": "4h",
        "tz": "Europe/London",
        "rrule": "FREQ=WEEKLY;BYDAY=SA",
        "exdates": "2026-12-26T22:00",
        "environments": ["production"],
        "components": "shop",
        "labels": "role=web",
        "description": "no work on Saturday nights",
    }
    before = _windows(live)

    bad_rule = authority.post("/console/windows", {**form, "rrule": "FREQ=SOMETIMES"})
    assert bad_rule.status_code == 422, bad_rule.text
    assert 'value="saturday-freeze"' in bad_rule.text
    endless = authority.post("/console/windows", {**form, "duration": ""})
    assert endless.status_code == 422
    nowhere = authority.post("/console/windows", {**form, "tz": "Mars/Olympus"})
    assert nowhere.status_code == 422
    bad_labels = authority.post("/console/windows", {**form, "labels": "web"})
    assert bad_labels.status_code == 422
    assert "name=value" in bad_labels.text
    forged = authority.post("/console/windows", {**form, "csrf_token": "0" * 43})
    assert forged.status_code == 403
    not_allowed = deployer.post("/console/windows", {**form, "csrf_token": deployer.csrf})
    assert not_allowed.status_code == 403
    assert _windows(live) == before

    made = authority.post("/console/windows", form)
    assert made.status_code == 303, made.text
    assert made.headers["location"] == ("/console/schedule?day=2026-12-05&window=saturday-freeze")
    page = authority.get(made.headers["location"]).text
    assert "Window saturday-freeze is defined" in page
    assert "saturday-freeze" in page.split("</h1>", 1)[1]
    with live.client("auditor") as http:
        shown = http.get("/api/v1/windows/saturday-freeze").json()
    assert shown["kind"] == "deny"
    assert shown["tz"] == "Europe/London"
    assert shown["rrule"] == "FREQ=WEEKLY;BYDAY=SA"
    assert shown["environments"] == ["production"]
    assert shown["components"] == ["shop"]
    assert shown["target_labels"] == {"role": "web"}
    assert shown["duration_seconds"] == 4 * 3600
    starts = [period["start"] for period in shown["next"]]
    assert not any(start.startswith("2026-12-26") for start in starts)  # the exception
    authority.close()
    deployer.close()
