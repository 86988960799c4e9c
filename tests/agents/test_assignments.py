"""create_assignment's gates, the assignments API, and the rules other rooms consult."""

from __future__ import annotations

import pytest

from golive.agents import service
from golive.auth.service import SYSTEM
from golive.errors import ConflictError, InvalidInputError, PolicyError
from golive.inventory.service import get_target
from golive.media.service import get_version
from tests.agents.conftest import Fleet


def test_quarantined_versions_reach_only_environments_that_allow_them(fleet: Fleet) -> None:
    fleet.add_version("1.0", approve=False)
    fleet.agent("web-01", "production")
    fleet.agent("dev-01", "dev")
    with pytest.raises(PolicyError) as refused:
        fleet.assign("web-01", "1.0")
    # The API maps a PolicyError to 409 with code "policy".
    assert (refused.value.http_status, refused.value.code) == (409, "policy")
    assert "quarantined" in refused.value.message
    assert fleet.assign("dev-01", "1.0") > 0
    with fleet.live.client("auditor") as http:
        listed = http.get("/api/v1/assignments", params={"target": "web-01"}).json()
    assert listed["items"] == []


def test_one_unfinished_assignment_per_component_and_target(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.add_version("2.0")
    fleet.add_version("1.0", component="docs")
    agent = fleet.agent()
    first = fleet.assign("web-01", "1.0")
    with pytest.raises(ConflictError) as refused:
        fleet.assign("web-01", "2.0")
    assert f"unfinished assignment {first}" in refused.value.message
    assert refused.value.details["assignment_id"] == first
    assert (refused.value.http_status, refused.value.code) == (409, "conflict")
    assert fleet.assign("web-01", "1.0", component="docs") > first  # another component
    assert agent.report(first, "failed", reason="disk full").status_code == 200
    assert fleet.assign("web-01", "2.0") > first


def test_bad_hooks_and_limits_are_refused_and_remove_ignores_status(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.agent()
    with fleet.live.client("release_manager") as http:
        withdrawn = http.post(
            "/api/v1/components/shop/versions/1.0/withdraw", json={"reason": "CVE"}
        )
        assert withdrawn.status_code == 200
    with pytest.raises(PolicyError, match="withdrawn"):
        fleet.assign("web-01", "1.0")
    # Removing is how a withdrawn version leaves a target.
    assert fleet.assign("web-01", "1.0", action="remove") > 0
    with fleet.live.db.writing() as session:
        target = get_target(session, "web-01")
        version = get_version(session, "shop", "1.0")
        for kwargs in (
            {"hooks": {"post_deploy": "true"}},
            {"hooks": {"health_check": ""}},
            {"hook_timeout_seconds": 0},
            {"keep_releases": 0},
            {"action": "upgrade"},
        ):
            with pytest.raises(InvalidInputError):
                service.create_assignment(session, SYSTEM, target=target, version=version, **kwargs)


def test_assignments_api_lists_filters_and_shows(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    fleet.add_version("1.0", component="docs")
    agent = fleet.agent()
    fleet.agent("web-02")
    shop = fleet.assign("web-01", "1.0")
    docs = fleet.assign("web-01", "1.0", component="docs")
    other = fleet.assign("web-02", "1.0")
    assert agent.report(docs, "failed").status_code == 200
    with fleet.live.client("deployer") as http:
        everything = http.get("/api/v1/assignments").json()["items"]
        assert [a["id"] for a in everything] == [other, docs, shop]  # newest first
        mine = http.get("/api/v1/assignments", params={"target": "web-01"}).json()["items"]
        assert [a["id"] for a in mine] == [docs, shop]
        failed = http.get("/api/v1/assignments", params={"state": "failed"}).json()["items"]
        assert [(a["id"], a["target"], a["component"]) for a in failed] == [
            (docs, "web-01", "docs")
        ]
        assert http.get("/api/v1/assignments", params={"state": "bogus"}).status_code == 422
        assert http.get("/api/v1/assignments", params={"target": "nope"}).status_code == 404
        shown = http.get(f"/api/v1/assignments/{shop}").json()
        assert shown["created_by"] == "system"
        assert shown["events"][0]["state"] == "pending"
        assert http.get("/api/v1/assignments/9999").status_code == 404
        assert http.get("/api/v1/targets/nope/installed").status_code == 404
    with fleet.live.client("end_user") as http:
        assert http.get("/api/v1/assignments").status_code == 403


def test_prune_keeps_installed_and_assigned_versions(fleet: Fleet) -> None:
    for number in range(1, 6):
        fleet.add_version(f"1.{number}")
    agent = fleet.agent()
    installed = fleet.assign("web-01", "1.1")
    for state in ("downloading", "installing", "verifying", "succeeded"):
        assert agent.report(installed, state).status_code == 200
    fleet.assign("web-01", "1.2")  # still pending
    with fleet.live.client("deployment_manager") as http:
        result = http.post("/api/v1/media/prune", json={"keep": 2}).json()
    assert result["removed"] == ["shop@1.3"]
    assert result["kept_in_use"] == {
        "shop@1.2": [f"needed by unfinished assignment(s) {installed + 1}"],
        "shop@1.1": ["installed on web-01"],
    }


def test_a_target_with_unfinished_assignments_cannot_be_deleted(fleet: Fleet) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    assignment = fleet.assign("web-01", "1.0")
    with fleet.live.client("deployment_manager") as http:
        refused = http.delete("/api/v1/targets/web-01")
        assert refused.status_code == 409
        assert f"unfinished assignment(s) ({assignment})" in refused.json()["error"]["message"]
        assert agent.report(assignment, "failed").status_code == 200
        assert http.delete("/api/v1/targets/web-01").status_code == 204
    # The agent's credential went with its target.
    assert agent.desired().status_code == 401
