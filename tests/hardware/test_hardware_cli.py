"""``golive hardware`` against a live server: output, --output json, warnings and exit codes."""

from __future__ import annotations

import json

from tests.conftest import Cli
from tests.support.live import LiveServer


def test_models_and_items_round_trip(live: LiveServer, cli: Cli) -> None:
    cli.use(live.url, live.tokens["deployment_manager"])
    assert cli("environments", "create", "production")[0] == 0
    assert cli("targets", "create", "rack-a", "--env", "production")[0] == 0
    code, out, err = cli(
        "hardware", "models", "create", "r750",
        "--vendor", "Dell", "--model", "PowerEdge R750",
        "--spec", "cpu=2x Xeon", "--spec", "ram=512 GiB", "--minimum-stock", "1",
    )  # fmt: skip
    assert (code, out.strip(), err) == (0, "Created hardware model r750.", "")
    code, out, _ = cli(
        "hardware", "items", "add", "CZ/42", "--model", "r750", "--location", "cage-1",
        "--asset-tag", "AT-9", "--build", "firmware_version=2.1", "--build", "notes=a=b, c",
    )  # fmt: skip
    assert (code, out.strip()) == (0, "Added item CZ/42 (r750) to the store.")

    code, out, _ = cli("hardware", "items", "show", "CZ/42", "-o", "json")
    shown = json.loads(out)
    assert shown["build"] == {"firmware_version": "2.1", "notes": "a=b, c"}
    assert shown["state"] == "in_store"

    assert cli("hardware", "items", "update", "CZ/42", "--build", "firmware_version=2.2")[0] == 0
    code, out, _ = cli(
        "hardware", "items", "reserve", "CZ/42", "--target", "rack-a", "--reason", "CHG-1"
    )
    assert (code, out.strip()) == (0, "Reserved item CZ/42 for rack-a.")
    code, out, _ = cli("hardware", "items", "list", "--state", "reserved")
    assert code == 0
    for shown_text in ("CZ/42", "rack-a", "firmware_version=2.2"):
        assert shown_text in out
    code, out, _ = cli("hardware", "items", "list", "--model", "r750", "-o", "json")
    assert [(i["serial"], i["target"]) for i in json.loads(out)] == [("CZ/42", "rack-a")]

    assert cli("hardware", "items", "return", "CZ/42")[0] == 0
    assert cli("hardware", "items", "repair", "CZ/42", "--reason", "fan")[0] == 0
    assert cli("hardware", "items", "retire", "CZ/42")[0] == 0
    code, out, _ = cli("hardware", "items", "dispose", "CZ/42", "-o", "json")
    assert (code, json.loads(out)["state"]) == (0, "disposed")

    code, _, err = cli("hardware", "items", "retire", "CZ/42")
    assert (code, err.strip()) == (1, "error: item CZ/42 is disposed; allowed next states: none")
    code, _, err = cli("hardware", "items", "add", "CZ/42", "--model", "r750", "--location", "x")
    assert (code, err.strip()) == (1, "error: hardware item 'CZ/42' already exists")

    assert cli("hardware", "models", "update", "r750", "--minimum-stock", "3")[0] == 0
    code, out, _ = cli("hardware", "models", "show", "r750", "-o", "json")
    assert json.loads(out)["minimum_stock"] == 3
    code, out, _ = cli("hardware", "models", "list")
    assert "PowerEdge R750" in out


def test_stock_warns_about_every_model_below_minimum(live: LiveServer, cli: Cli) -> None:
    cli.use(live.url, live.tokens["admin"])
    for name, minimum in (("r750", "2"), ("t14", "0"), ("ex4300", "1")):
        args = ("--vendor", "Acme", "--model", name.upper(), "--minimum-stock", minimum)
        assert cli("hardware", "models", "create", name, *args)[0] == 0
    for serial in ("A1", "A2"):
        assert cli("hardware", "items", "add", serial, "--model", "t14", "--location", "x")[0] == 0
    assert cli("hardware", "items", "add", "B1", "--model", "r750", "--location", "x")[0] == 0

    cli.use(live.url, live.tokens["auditor"])
    code, out, err = cli("hardware", "stock")
    assert code == 0
    assert "IN STORE" in out
    assert "IN REPAIR" in out
    assert err.splitlines() == [
        "warning: ex4300 has 0 in store, below its minimum of 1",
        "warning: r750 has 1 in store, below its minimum of 2",
    ]
    code, out, err = cli("hardware", "stock", "-o", "json")
    levels = json.loads(out)
    assert [(lv["model"], lv["in_store"], lv["below_minimum"]) for lv in levels] == [
        ("ex4300", 0, True),
        ("r750", 1, True),
        ("t14", 2, False),
    ]
    assert len(err.splitlines()) == 2

    code, _, err = cli("hardware", "stock", "--model", "nope")
    assert (code, err.strip()) == (1, "error: hardware model 'nope' not found")
    cli.use(live.url, live.tokens["deployer"])
    code, _, err = cli("hardware", "models", "create", "x1", "--vendor", "A", "--model", "B")
    assert code == 1
    assert "hardware:write needs one of the roles admin, deployment_manager" in err
