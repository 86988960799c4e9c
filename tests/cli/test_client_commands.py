"""The client commands against a live server: output, --output json and exit codes."""

from __future__ import annotations

import json
import stat
from pathlib import Path

from tests.conftest import Cli
from tests.support.live import LiveServer


def test_inventory_commands_round_trip(live: LiveServer, cli: Cli) -> None:
    cli.use(live.url, live.tokens["admin"])
    assert (
        cli(
            "environments",
            "create",
            "staging",
            "--order",
            "2",
            "--policy",
            '{"requires_change": true}',
        )[0]
        == 0
    )
    code, out, _ = cli(
        "targets",
        "create",
        "app-01",
        "--env",
        "staging",
        "--label",
        "role=app",
        "--label",
        "zone=b",
        "--connection",
        "ssh",
        "--address",
        "10.0.0.5",
    )
    assert code == 0
    assert "Created target app-01 in staging." in out
    assert (
        cli("components", "create", "billing", "--kind", "software", "--owner", "Finance IT")[0]
        == 0
    )

    code, out, _ = cli("targets", "list", "--label", "role=app", "--output", "json")
    assert code == 0
    listed = json.loads(out)
    assert [t["name"] for t in listed] == ["app-01"]
    assert listed[0]["labels"] == {"role": "app", "zone": "b"}

    code, out, _ = cli("targets", "list")
    assert "app-01" in out
    assert "role=app,zone=b" in out

    code, out, _ = cli("environments", "show", "staging", "-o", "json")
    assert json.loads(out)["policy"]["requires_change"] is True

    assert cli("targets", "update", "app-01", "--label", "role=db")[0] == 0
    assert json.loads(cli("targets", "show", "app-01", "-o", "json")[1])["labels"] == {"role": "db"}
    assert cli("components", "update", "billing", "--description", "Invoices")[0] == 0
    assert cli("targets", "delete", "app-01")[0] == 0
    assert cli("environments", "delete", "staging")[0] == 0
    code, out, _ = cli("environments", "list", "-o", "json")
    assert json.loads(out) == []


def test_exit_codes(live: LiveServer, cli: Cli) -> None:
    cli.use(live.url, live.tokens["deployer"])
    code, _, err = cli("environments", "create", "prod")
    assert code == 1
    assert "needs one of the roles admin, deployment_manager; deployer has deployer" in err

    cli.use(live.url, live.tokens["admin"])
    code, _, err = cli("targets", "create", "x", "--env", "ghost")
    assert (code, err.strip()) == (1, "error: environment 'ghost' not found")

    code, _, err = cli("targets", "create", "x", "--env", "ghost", "--connection", "telnet")
    assert code == 2
    assert "telnet" in err

    code, _, err = cli("targets", "create")
    assert code == 2
    assert cli("no-such-command")[0] == 2
    assert cli("environments", "update", "x")[0] == 2

    cli.use(live.url, None)
    code, _, err = cli("targets", "list")
    assert code == 1
    assert "set GOLIVE_TOKEN or run `golive login`" in err

    cli.use("http://127.0.0.1:9", live.tokens["admin"])
    code, _, err = cli("targets", "list")
    assert code == 1
    assert "cannot reach the golive server at http://127.0.0.1:9" in err


def test_tokens_and_principals(live: LiveServer, cli: Cli) -> None:
    cli.use(live.url, live.tokens["admin"])
    assert (
        cli(
            "principals", "create", "carol", "--role", "change_authority", "--display-name", "Carol"
        )[0]
        == 0
    )
    code, out, _ = cli(
        "tokens", "create", "--principal", "carol", "--expires-in", "30d", "-o", "json"
    )
    assert code == 0
    issued = json.loads(out)
    assert issued["token"].startswith("glv_")
    assert issued["expires_at"] is not None

    cli.use(live.url, issued["token"])
    code, out, _ = cli("whoami", "-o", "json")
    assert json.loads(out)["roles"] == ["change_authority"]

    cli.use(live.url, live.tokens["admin"])
    code, out, _ = cli("tokens", "list", "--principal", "carol", "-o", "json")
    listed = json.loads(out)
    assert [t["id"] for t in listed] == [issued["id"]]
    assert "token" not in listed[0]
    assert cli("tokens", "revoke", str(issued["id"]), "--reason", "left the team")[0] == 0

    cli.use(live.url, issued["token"])
    code, _, err = cli("whoami")
    assert code == 1
    assert "revoked" in err

    cli.use(live.url, live.tokens["admin"])
    assert cli("principals", "update", "carol", "--disable")[0] == 0
    code, _, err = cli("tokens", "create", "--principal", "carol", "--expires-in", "0d")
    assert code == 2


def test_login_saves_a_private_config(live: LiveServer, cli: Cli, tmp_path: Path) -> None:
    cli.use("http://127.0.0.1:9", None)
    cli.monkeypatch.delenv("GOLIVE_URL")
    code, out, _ = cli("login", "--url", live.url, "--token", live.tokens["auditor"])
    assert code == 0, out
    config = tmp_path / "config.json"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600
    code, out, _ = cli("whoami", "-o", "json")
    assert json.loads(out)["name"] == "auditor"

    code, _, err = cli("login", "--url", live.url, "--token", "glv_wrong")
    assert code == 1
    assert "not valid" in err
    assert json.loads(config.read_text())["token"] == live.tokens["auditor"]
