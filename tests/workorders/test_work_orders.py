"""Work orders on manual targets: a person completes or fails them; the records follow."""

from __future__ import annotations

import json

from tests.conftest import Cli
from tests.support.live import LiveServer

OCTET = {"Content-Type": "application/octet-stream"}


def _site(live: LiveServer) -> None:
    """A manual rack location, a hardware component with an approved build spec, an item."""
    with live.client() as http:
        http.post("/api/v1/environments", json={"name": "datacentre"})
        http.post(
            "/api/v1/targets",
            json={
                "name": "rack-a7",
                "environment": "datacentre",
                "connection": "manual",
                "address": "DC1 hall 2 rack A7",
            },
        )
        http.post(
            "/api/v1/targets",
            json={"name": "web-9", "environment": "datacentre", "connection": "agent"},
        )
        http.post("/api/v1/components", json={"name": "edge-server", "kind": "hardware"})
        http.post(
            "/api/v1/components/edge-server/versions",
            params={"version": "2026.1"},
            content=b"build spec: BIOS 2.1, RAID1",
            headers=OCTET,
        )
        http.post("/api/v1/components/edge-server/versions/2026.1/approve")
        http.post(
            "/api/v1/hardware/models",
            json={"name": "r650", "vendor": "Dell", "model": "PowerEdge R650"},
        )
        http.post(
            "/api/v1/hardware/items",
            json={
                "serial": "SN-7001",
                "model": "r650",
                "store_location": "store-1",
                "build": {"bios": "2.1"},
            },
        )


def _open(live: LiveServer, **extra: object) -> dict[str, object]:
    body = {
        "target": "rack-a7",
        "component": "edge-server",
        "version": "2026.1",
        "title": "Rack and cable the edge server",
        "assigned_role": "deployer",
        "checklist": ["Mount in U12-U13", "Connect both PSUs", "Patch to switch port 7"],
        "evidence_required": ["photo", "switch_port"],
        **extra,
    }
    with live.client("deployment_manager") as http:
        answer = http.post("/api/v1/work-orders", json=body)
    assert answer.status_code == 201, answer.text
    opened: dict[str, object] = answer.json()
    return opened


def test_completed_hardware_work_order_deploys_the_item(live: LiveServer) -> None:
    _site(live)
    with live.client() as http:
        refused = http.post(
            "/api/v1/work-orders",
            json={
                "target": "rack-a7",
                "component": "edge-server",
                "version": "2026.1",
                "title": "x",
                "assigned_role": "deployer",
                "hardware_serial": "SN-7001",
            },
        )
        assert refused.status_code == 409  # not reserved yet
        assert "must be reserved for rack-a7" in refused.json()["error"]["message"]
        reserved = http.post("/api/v1/hardware/items/SN-7001/reserve", json={"target": "rack-a7"})
        assert reserved.status_code == 200, reserved.text
    order = _open(live, hardware_serial="SN-7001")
    assert order["state"] == "open"
    assert order["assignment_state"] == "pending"
    assert order["location"] == "DC1 hall 2 rack A7"

    url = f"/api/v1/work-orders/{order['id']}/complete"
    with live.client("release_manager") as http:
        wrong_role = http.post(url, json={"checked": [1, 2, 3], "evidence": {}})
    assert wrong_role.status_code == 403
    assert "assigned to the role deployer" in wrong_role.json()["error"]["message"]

    with live.client("deployer") as http:
        partial = http.post(url, json={"checked": [1, 3], "evidence": {"photo": "p.jpg"}})
        assert partial.status_code == 422
        assert "not ticked: 2 (Connect both PSUs)" in partial.json()["error"]["message"]
        no_evidence = http.post(url, json={"checked": [1, 2, 3], "evidence": {"photo": "p.jpg"}})
        assert no_evidence.status_code == 422
        assert "evidence missing: switch_port" in no_evidence.json()["error"]["message"]
        done = http.post(
            url,
            json={
                "checked": [1, 2, 3],
                "evidence": {"photo": "s3://evidence/a7.jpg", "switch_port": "sw-core-1/7"},
                "note": "racked",
            },
        )
        assert done.status_code == 200, done.text
        assert done.json()["state"] == "completed"
        assert done.json()["assignment_state"] == "succeeded"
        again = http.post(url, json={"checked": [1, 2, 3], "evidence": {}})
        assert again.status_code == 409

        item = http.get("/api/v1/hardware/items/SN-7001").json()
        installed = http.get("/api/v1/targets/rack-a7/installed").json()
        assignment = http.get(f"/api/v1/assignments/{order['assignment_id']}").json()
    assert item["state"] == "deployed"
    assert item["target"] == "rack-a7"
    listed = json.dumps(installed)
    assert "edge-server" in listed
    assert "2026.1" in listed
    assert [e["state"] for e in assignment["events"]] == [
        "pending",
        "downloading",
        "installing",
        "verifying",
        "succeeded",
    ]
    with live.client("auditor") as http:
        actions = [
            e["action"]
            for e in http.get("/api/v1/audit/events", params={"limit": 1000}).json()["items"]
        ]
    assert "work_order.complete" in actions
    assert "hardware_item.deploy" in actions


def test_failed_work_order_fails_its_assignment(live: LiveServer) -> None:
    _site(live)
    order = _open(live, assigned_role="end_user", evidence_required=[])
    with live.client("end_user") as http:
        assert (
            http.post(f"/api/v1/work-orders/{order['id']}/fail", json={"reason": ""}).status_code
            == 422
        )
        failed = http.post(
            f"/api/v1/work-orders/{order['id']}/fail", json={"reason": "rack A7 has no free units"}
        )
    assert failed.status_code == 200, failed.text
    assert failed.json()["state"] == "failed"
    assert failed.json()["assignment_state"] == "failed"
    with live.client() as http:
        installed = http.get("/api/v1/targets/rack-a7/installed").json()
    assert "edge-server" not in json.dumps(installed.get("installed", []))


def test_work_orders_only_for_manual_targets(live: LiveServer) -> None:
    _site(live)
    with live.client() as http:
        answer = http.post(
            "/api/v1/work-orders",
            json={
                "target": "web-9",
                "component": "edge-server",
                "version": "2026.1",
                "title": "x",
                "assigned_role": "deployer",
            },
        )
        assert answer.status_code == 422
        assert "not by a person" in answer.json()["error"]["message"]
        agent_role = http.post(
            "/api/v1/work-orders",
            json={
                "target": "rack-a7",
                "component": "edge-server",
                "version": "2026.1",
                "title": "x",
                "assigned_role": "agent",
            },
        )
        assert agent_role.status_code == 422


def test_cli_list_show_complete(live: LiveServer, cli: Cli) -> None:
    _site(live)
    cli.use(live.url, live.tokens["deployment_manager"])
    code, out, err = cli(
        "work-orders",
        "open",
        "--target",
        "rack-a7",
        "--version",
        "edge-server@2026.1",
        "--title",
        "Label the rack",
        "--role",
        "deployer",
        "--check",
        "Print label",
        "--check",
        "Stick it",
        "--evidence",
        "photo",
        "-o",
        "json",
    )
    assert code == 0, err
    order_id = json.loads(out)["id"]
    cli.use(live.url, live.tokens["deployer"])
    code, out, _ = cli("work-orders", "list", "--state", "open")
    assert "Label the rack" in out
    code, out, _ = cli("work-orders", "show", str(order_id))
    assert "[ ] 1. Print label" in out
    code, out, err = cli(
        "work-orders", "complete", str(order_id), "--all-checked", "--evidence", "photo=label.jpg"
    )
    assert code == 0, err
    assert "succeeded" in out
    code, _, err = cli("work-orders", "complete", str(order_id), "--all-checked")
    assert code == 1
    assert "already completed" in err
