"""Deployments through the live server (with its engine inside) and through the CLI."""

from __future__ import annotations

import time
from typing import Any

from golive.agents.rules import AssignmentState
from golive.deployments.models import Deployment
from tests.conftest import Cli
from tests.deployments.conftest import build_estate, report_all
from tests.support.live import LiveServer


def _wait_for(live: LiveServer, number: int, state: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    with live.client("auditor") as http:
        while True:
            shown: dict[str, Any] = http.get(f"/api/v1/deployments/{number}").json()
            if shown["state"] == state or time.monotonic() > deadline:
                return shown
            time.sleep(0.05)


def test_api_plan_deploy_show_and_records(live: LiveServer) -> None:
    with live.db.writing() as session:
        build_estate(session)
    body = {"versions": ["shop@2"], "environment": "production", "strategy": "phased"}
    with live.client("deployer") as http:
        planned = http.post("/api/v1/deployments", json={**body, "waves": "1", "dry_run": True})
        assert planned.status_code == 201, planned.text
        assert planned.json()["waves"][0]["targets"] == ["web-01"]
        assert http.get("/api/v1/deployments").json()["items"] == []
        bad = http.post("/api/v1/deployments", json={**body, "versions": ["shop"]})
        assert bad.status_code == 422
        change = http.post(
            "/api/v1/changes",
            json={"type": "emergency", "title": "shop 2", "environments": ["production"],
                  "components": ["shop"], "external_ref": "CHG0012345", "submit": True},
        )  # fmt: skip
        assert change.status_code == 201, change.text
        with live.client("change_authority") as cab:
            decided = cab.post("/api/v1/changes/CHG-1/decisions", json={"decision": "approve"})
            assert decided.json()["state"] == "authorised"
        # Linked by the ITSM tool's number; recorded by golive's reference.
        created = http.post("/api/v1/deployments", json={**body, "change_ref": "CHG0012345"})
        assert created.status_code == 201, created.text
        number = created.json()["id"]
        again = http.post("/api/v1/deployments", json=body)
        assert again.status_code == 409
        assert f"deployment {number}" in again.json()["error"]["message"]
    shown = _wait_for(live, number, "running")
    while shown["counts"] != {"pending": 4}:
        shown = _wait_for(live, number, "running")
    report_all(live.db, number, AssignmentState.SUCCEEDED)
    shown = _wait_for(live, number, "succeeded")
    assert shown["state"] == "succeeded"
    with live.client("auditor") as http:
        history = http.get("/api/v1/targets/web-01/history").json()["items"]
        assert history[0]["change_ref"] == "CHG-1"
        change = http.get("/api/v1/changes/CHG-1").json()
        assert (change["state"], change["outcome"]) == ("implemented", "succeeded")
        where = http.get("/api/v1/components/shop/where").json()
        assert where["environments"][0]["versions"] == {"2": 4}


def test_cli_plan_and_deploy(live: LiveServer, cli: Cli) -> None:
    with live.db.writing() as session:
        build_estate(session)
    cli.use(live.url, live.tokens["deployment_manager"])
    code, out, err = cli(
        "deploy", "shop@2", "--env", "production", "--strategy", "phased", "--waves", "1", "--plan"
    )
    assert code == 0, err
    assert "wave 1: web-01" in out
    assert "estimate:" in out
    code, out, err = cli("deploy", "shop@2", "--env", "production", "--targets", "web-01,web-02")
    assert code == 0, err
    assert "Created deployment 1" in out
    code, out, err = cli("deployments", "pause", "1")
    assert code == 0, err
    code, out, err = cli("deployments", "list")
    assert code == 0, err
    assert "shop@2" in out
    code, out, err = cli("deployments", "resume", "1")
    assert code == 0, err
    code, out, err = cli("deployments", "confirm", "1")
    assert code == 1
    assert "confirm_waves" in err
    code, out, err = cli("components", "where", "shop")
    assert code == 0, err
    code, out, err = cli("deployments", "abort", "1", "--reason", "enough")
    assert code == 0, err
    code, out, err = cli("deployments", "show", "1", "--watch")
    assert code == 1, out + err
    assert "aborted" in out
    code, out, err = cli("targets", "history", "web-01")
    assert code == 0, err


def test_cli_deploy_gives_the_targets_its_hooks(live: LiveServer, cli: Cli) -> None:
    with live.db.writing() as session:
        build_estate(session)
    cli.use(live.url, live.tokens["deployment_manager"])
    code, _, err = cli("deploy", "shop@2", "--env", "production", "--hook", "health=true")
    assert code == 2
    assert "--hook" in err
    assert "health_check" in err
    code, out, err = cli(
        "deploy",
        "shop@2",
        "--env",
        "production",
        "--targets",
        "web-01",
        "--hook",
        "post_install=sh start.sh --port=8080",
        "--hook",
        "health_check=sh health.sh",
    )
    assert code == 0, err
    assert "Created deployment 1" in out
    hooks = {"post_install": "sh start.sh --port=8080", "health_check": "sh health.sh"}
    with live.db.reading() as session:
        recorded = session.get(Deployment, 1)
        assert recorded is not None
        assert recorded.hooks == hooks
    shown = _wait_for(live, 1, "running")
    while shown["counts"] != {"pending": 1}:
        shown = _wait_for(live, 1, "running")
    with live.client("auditor") as http:
        assignments = http.get("/api/v1/assignments", params={"target": "web-01"}).json()
    assert assignments["items"][0]["hooks"] == hooks
