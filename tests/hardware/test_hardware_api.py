"""The hardware store over the real HTTP server, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from golive.auth.service import SYSTEM
from golive.errors import ConflictError
from golive.hardware import service
from golive.hardware.rules import TRANSITIONS, ItemState
from tests.support.live import LiveServer

H = "/api/v1/hardware"
VERBS = {
    ItemState.RESERVED: "reserve",
    ItemState.IN_STORE: "return",
    ItemState.IN_REPAIR: "repair",
    ItemState.RETIRED: "retire",
    ItemState.DISPOSED: "dispose",
}
# How to bring a fresh item (in_store) to each state.
ROUTE_TO = {
    ItemState.IN_STORE: [],
    ItemState.RESERVED: [ItemState.RESERVED],
    ItemState.DEPLOYED: [ItemState.RESERVED, ItemState.DEPLOYED],
    ItemState.IN_REPAIR: [ItemState.IN_REPAIR],
    ItemState.RETIRED: [ItemState.RETIRED],
    ItemState.DISPOSED: [ItemState.RETIRED, ItemState.DISPOSED],
}


def _store(http: httpx.Client, *, minimum_stock: int = 0) -> None:
    """A target to reserve for, and a hardware model to stock."""
    assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
    target = http.post("/api/v1/targets", json={"name": "rack-a", "environment": "production"})
    assert target.status_code == 201, target.text
    model = http.post(
        f"{H}/models",
        json={
            "name": "r750",
            "vendor": "Dell",
            "model": "PowerEdge R750",
            "specification": {"cpu": "2x Xeon 6338", "ram": "512 GiB"},
            "minimum_stock": minimum_stock,
        },
    )
    assert model.status_code == 201, model.text


def _add(http: httpx.Client, serial: str, **extra: Any) -> dict[str, Any]:
    body = {"serial": serial, "model": "r750", "store_location": "cage-1/shelf-2", **extra}
    answer = http.post(f"{H}/items", json=body)
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def _move(live: LiveServer, http: httpx.Client, serial: str, state: ItemState) -> httpx.Response:
    if state is ItemState.DEPLOYED:  # deployment work's move: a service function, no endpoint
        with live.db.writing() as session:
            item = service.deploy_item(session, SYSTEM, serial, reason="installed")
            return httpx.Response(200, json=item.as_dict())
    body: dict[str, Any] = {"reason": f"to {state.value}"}
    if state is ItemState.RESERVED:
        body["target"] = "rack-a"
    return http.post(f"{H}/items/{serial}/{VERBS[state]}", json=body)


def _events(live: LiveServer, serial: str) -> list[dict[str, Any]]:
    with live.client("auditor") as http:
        answer = http.get(
            "/api/v1/audit/events",
            params={"subject_type": "hardware_item", "subject_id": serial, "limit": 1000},
        )
    events: list[dict[str, Any]] = answer.json()["items"]
    return events


def test_models_items_and_their_audit_trail(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http)
        created = _add(
            http,
            "CZ2145/0042",
            asset_tag="AT-1001",
            build={"firmware_version": "2.1.4", "bios": "1.9.2", "config.notes": "RAID1, 2x PSU"},
        )
        assert created["state"] == "in_store"
        assert created["target"] is None
        assert created["next_states"] == ["reserved", "in_repair", "retired"]
        _add(http, "CZ2145-0043")

        shown = http.get(f"{H}/items/CZ2145/0042").json()  # a serial with '/' is one path
        assert shown["build"] == {
            "bios": "1.9.2",
            "config.notes": "RAID1, 2x PSU",
            "firmware_version": "2.1.4",
        }
        assert shown["asset_tag"] == "AT-1001"

        listed = http.get(f"{H}/items", params={"model": "r750"}).json()["items"]
        assert [i["serial"] for i in listed] == ["CZ2145-0043", "CZ2145/0042"]

        changed = http.patch(
            f"{H}/items/CZ2145/0042",
            json={"build": {"firmware_version": "2.2.0"}, "reason": "firmware upgrade"},
        )
        assert changed.status_code == 200, changed.text
        assert changed.json()["build"] == {"firmware_version": "2.2.0"}
        reserved = http.post(
            f"{H}/items/CZ2145/0042/reserve", json={"target": "rack-a", "reason": "CHG-7"}
        )
        assert reserved.status_code == 200, reserved.text
        assert (reserved.json()["state"], reserved.json()["target"]) == ("reserved", "rack-a")
        assert reserved.json()["state_reason"] == "CHG-7"

        in_state = http.get(f"{H}/items", params={"state": "reserved"}).json()["items"]
        assert [i["serial"] for i in in_state] == ["CZ2145/0042"]

        model = http.patch(f"{H}/models/r750", json={"minimum_stock": 4, "description": "2U"})
        assert model.json()["minimum_stock"] == 4
        assert http.get(f"{H}/models").json()["items"][0]["specification"] == {
            "cpu": "2x Xeon 6338",
            "ram": "512 GiB",
        }

    events = _events(live, "CZ2145/0042")
    assert [(e["actor"], e["action"]) for e in events] == [
        ("deployment-manager", "hardware_item.create"),
        ("deployment-manager", "hardware_item.update"),
        ("deployment-manager", "hardware_item.reserve"),
    ]
    update, reserve = events[1], events[2]
    assert update["before"] == {
        "build": {"bios": "1.9.2", "config.notes": "RAID1, 2x PSU", "firmware_version": "2.1.4"}
    }
    assert update["after"] == {"build": {"firmware_version": "2.2.0"}}
    assert update["reason"] == "firmware upgrade"
    assert reserve["before"] == {"state": "in_store", "target": None}
    assert reserve["after"] == {"state": "reserved", "target": "rack-a"}
    assert reserve["reason"] == "CHG-7"
    with live.client("auditor") as http:
        model_events = http.get(
            "/api/v1/audit/events", params={"subject_type": "hardware_model", "subject_id": "r750"}
        ).json()["items"]
    assert [e["action"] for e in model_events] == ["hardware_model.create", "hardware_model.update"]
    assert model_events[1]["after"] == {"description": "2U", "minimum_stock": 4}


def test_every_legal_transition(live: LiveServer) -> None:
    legal = [(a, b) for a in ItemState for b in ItemState if b in TRANSITIONS[a]]
    assert len(legal) == 12
    with live.client("deployment_manager") as http:
        _store(http)
        for number, (source, wanted) in enumerate(legal):
            serial = f"SN-{number}"
            _add(http, serial)
            for step in ROUTE_TO[source]:
                assert _move(live, http, serial, step).status_code == 200
            before = len(_events(live, serial))

            answer = _move(live, http, serial, wanted)

            assert answer.status_code == 200, f"{source} -> {wanted}: {answer.text}"
            item = http.get(f"{H}/items/{serial}").json()
            assert item["state"] == wanted.value
            # Only a reserved or deployed item names a target; returning clears it.
            held = wanted in (ItemState.RESERVED, ItemState.DEPLOYED)
            assert item["target"] == ("rack-a" if held else None), f"{source} -> {wanted}"
            events = _events(live, serial)
            assert len(events) == before + 1
            last = events[-1]
            verb = VERBS.get(wanted, "deploy")
            assert last["action"] == f"hardware_item.{verb}"
            assert last["before"]["state"] == source.value
            assert last["after"]["state"] == wanted.value
            assert last["reason"] == ("installed" if verb == "deploy" else f"to {wanted.value}")


def test_illegal_transitions_are_409_and_change_nothing(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http)
        tried = 0
        for source in ItemState:
            serial = f"X-{source.value}"
            _add(http, serial)
            for step in ROUTE_TO[source]:
                assert _move(live, http, serial, step).status_code == 200
            before = http.get(f"{H}/items/{serial}").json()
            events = len(_events(live, serial))
            for wanted in VERBS:
                if wanted in TRANSITIONS[source]:
                    continue
                tried += 1
                answer = _move(live, http, serial, wanted)
                assert answer.status_code == 409, f"{source} -> {wanted}: {answer.text}"
                error = answer.json()["error"]
                allowed = [s.value for s in ItemState if s in TRANSITIONS[source]]
                assert error["code"] == "conflict"
                assert error["message"] == (
                    f"item {serial} is {source.value}; "
                    f"allowed next states: {', '.join(allowed) or 'none'}"
                )
                assert error["details"]["allowed"] == allowed
                assert http.get(f"{H}/items/{serial}").json() == before
                assert len(_events(live, serial)) == events
        assert tried == 19  # 30 (state, endpoint) pairs less the 11 legal ones
        expected = "item X-in_store is in_store; allowed next states: reserved, in_repair, retired"
        with pytest.raises(ConflictError) as refused, live.db.writing() as session:
            service.deploy_item(session, SYSTEM, "X-in_store")  # deploying needs a reservation
        assert refused.value.message == expected


def test_reserve_for_an_unknown_target_is_404(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http)
        _add(http, "SN-1")
        answer = http.post(f"{H}/items/SN-1/reserve", json={"target": "ghost"})
        assert answer.status_code == 404
        assert answer.json()["error"]["message"] == "target 'ghost' not found"
        assert http.get(f"{H}/items/SN-1").json()["state"] == "in_store"
        missing = http.post(f"{H}/items/SN-404/retire", json={})
        assert missing.status_code == 404
        assert missing.json()["error"]["message"] == "hardware item 'SN-404' not found"
    assert [e["action"] for e in _events(live, "SN-1")] == ["hardware_item.create"]


def test_duplicates_and_bad_references(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http)
        _add(http, "SN-1", asset_tag="AT-1")
        again = http.post(
            f"{H}/items", json={"serial": "SN-1", "model": "r750", "store_location": "x"}
        )
        assert again.status_code == 409
        assert again.json()["error"]["message"] == "hardware item 'SN-1' already exists"
        tag = http.post(
            f"{H}/items",
            json={"serial": "SN-2", "model": "r750", "store_location": "x", "asset_tag": "AT-1"},
        )
        assert tag.status_code == 409
        assert tag.json()["error"]["message"] == "asset tag 'AT-1' is already on item SN-1"
        _add(http, "SN-3")
        retag = http.patch(f"{H}/items/SN-3", json={"asset_tag": "AT-1"})
        assert retag.status_code == 409
        model = http.post(f"{H}/models", json={"name": "r750", "vendor": "Dell", "model": "R750"})
        assert model.status_code == 409
        assert model.json()["error"]["message"] == "hardware model 'r750' already exists"
        unknown = http.post(
            f"{H}/items", json={"serial": "SN-4", "model": "nope", "store_location": "x"}
        )
        assert unknown.status_code == 404
        assert unknown.json()["error"]["message"] == "hardware model 'nope' not found"
        assert http.get(f"{H}/items", params={"model": "nope"}).status_code == 404
        assert [i["serial"] for i in http.get(f"{H}/items").json()["items"]] == ["SN-1", "SN-3"]


def test_bad_input_is_422(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http)
        for body, location in [
            ({"serial": "../etc", "model": "r750", "store_location": "x"}, "body.serial"),
            ({"serial": "a//b", "model": "r750", "store_location": "x"}, "body.serial"),
            ({"serial": "x" * 129, "model": "r750", "store_location": "x"}, "body.serial"),
            ({"serial": "SN 1", "model": "r750", "store_location": "x"}, "body.serial"),
            ({"serial": "SN1", "model": "r750", "store_location": ""}, "body.store_location"),
            (
                {
                    "serial": "SN1",
                    "model": "r750",
                    "store_location": "x",
                    "build": {"k": "v" * 1001},
                },
                "body.build.k",
            ),
            (
                {
                    "serial": "SN1",
                    "model": "r750",
                    "store_location": "x",
                    "build": {"Bad Key": "v"},
                },
                "body.build.Bad Key.[key]",
            ),
            (
                {"serial": "SN1", "model": "r750", "store_location": "x", "state": "deployed"},
                "body.state",
            ),
        ]:
            answer = http.post(f"{H}/items", json=body)
            assert answer.status_code == 422, body
            assert answer.json()["error"]["details"]["problems"][0]["location"] == location, (
                answer.text
            )
        negative = http.patch(f"{H}/models/r750", json={"minimum_stock": -1})
        assert negative.status_code == 422
        serial = http.post(
            f"{H}/items", json={"serial": "-x", "model": "r750", "store_location": "x"}
        )
        assert (
            "each '/'-separated part starting with a letter or digit"
            in serial.json()["error"]["message"]
        )
        bad_state = http.get(f"{H}/items", params={"state": "lost"})
        assert bad_state.status_code == 422
        assert http.get(f"{H}/items").json()["items"] == []


def test_a_held_build_does_not_change(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http)
        _add(http, "SN-1", build={"bios": "1.0"})
        assert _move(live, http, "SN-1", ItemState.RESERVED).status_code == 200
        events = len(_events(live, "SN-1"))
        refused = http.patch(f"{H}/items/SN-1", json={"build": {"bios": "2.0"}})
        assert refused.status_code == 409
        assert refused.json()["error"]["message"] == (
            "item SN-1 is reserved; its build can change only while it is in_store or in_repair"
        )
        assert len(_events(live, "SN-1")) == events
        moved = http.patch(f"{H}/items/SN-1", json={"store_location": "dock-3"})
        assert moved.json()["store_location"] == "dock-3"
        assert moved.json()["build"] == {"bios": "1.0"}
        assert http.patch(f"{H}/items/SN-1", json={"store_location": "dock-3"}).status_code == 200
        assert len(_events(live, "SN-1")) == events + 1  # the repeat changed nothing: no event

        assert _move(live, http, "SN-1", ItemState.IN_REPAIR).status_code == 200
        rebuilt = http.patch(f"{H}/items/SN-1", json={"build": {"bios": "2.0"}})
        assert rebuilt.json()["build"] == {"bios": "2.0"}
        for state in (ItemState.RETIRED, ItemState.DISPOSED):
            assert _move(live, http, "SN-1", state).status_code == 200
        final = http.patch(f"{H}/items/SN-1", json={"store_location": "skip"})
        assert final.status_code == 409
        assert (
            final.json()["error"]["message"]
            == "item SN-1 is disposed; its record no longer changes"
        )


def test_stock_levels_flag_models_below_minimum(live: LiveServer) -> None:
    with live.client("deployment_manager") as http:
        _store(http, minimum_stock=2)
        model = {"name": "t14", "vendor": "Lenovo", "model": "ThinkPad T14", "minimum_stock": 1}
        assert http.post(f"{H}/models", json=model).status_code == 201
        for serial in ("A1", "A2", "A3"):
            _add(http, serial)
        assert _move(live, http, "A1", ItemState.RESERVED).status_code == 200
        assert _move(live, http, "A2", ItemState.IN_REPAIR).status_code == 200
    with live.client("supplier") as http:
        answer = http.get(f"{H}/stock")
        assert answer.status_code == 200
        stock = answer.json()
        one = http.get(f"{H}/stock", params={"model": "t14"}).json()
        assert http.get(f"{H}/stock", params={"model": "nope"}).status_code == 404
    assert stock["below_minimum"] == ["r750", "t14"]
    r750 = stock["items"][0]
    assert r750 == {
        "model": "r750",
        "vendor": "Dell",
        "vendor_model": "PowerEdge R750",
        "minimum_stock": 2,
        "in_store": 1,
        "below_minimum": True,
        "counts": {
            "in_store": 1,
            "reserved": 1,
            "deployed": 0,
            "in_repair": 1,
            "retired": 0,
            "disposed": 0,
        },
    }
    assert one["items"][0]["in_store"] == 0
    assert [level["model"] for level in one["items"]] == ["t14"]
