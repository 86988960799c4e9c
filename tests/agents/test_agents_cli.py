"""``golive targets enroll-token|revoke-agent|installed`` and ``golive assignments``."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from tests.agents.conftest import Fleet, StandInAgent
from tests.conftest import Cli


def test_enroll_token_prints_the_secret_once(fleet: Fleet, cli: Cli) -> None:
    cli.use(fleet.live.url, fleet.live.tokens["deployment_manager"])
    code, out, err = cli(
        "targets", "enroll-token", "--env", "production", "--label", "role=web",
        "--label", "tier=1", "--organisation", "acme", "--expires-in", "24h",
    )  # fmt: skip
    assert (code, err) == (0, "")
    lines = out.strip().splitlines()
    assert lines[0].startswith("Enrollment token 1 for environment production (expires: 20")
    token = lines[-1]
    assert token.startswith("gle_")
    registered = fleet.register(token, "web-01")
    assert registered.status_code == 201
    code, out, _ = cli("targets", "show", "web-01", "-o", "json")
    shown = json.loads(out)
    assert shown["labels"] == {"role": "web", "tier": "1"}
    assert shown["organisation"] == "acme"

    code, out, _ = cli(
        "targets", "enroll-token", "--env", "dev", "--expires-in", "7d", "--output", "json"
    )
    created = json.loads(out)
    assert created["token"].startswith("gle_")
    expires = datetime.fromisoformat(created["expires_at"])
    assert timedelta(days=6) < expires - datetime.now(UTC) <= timedelta(days=7)

    code, _, err = cli("targets", "enroll-token", "--env", "dev", "--expires-in", "soon")
    assert code == 2
    assert "not a duration" in err
    code, _, err = cli("targets", "enroll-token", "--env", "nowhere")
    assert (code, err.strip()) == (1, "error: environment 'nowhere' not found")
    cli.use(fleet.live.url, fleet.live.tokens["deployer"])
    code, _, err = cli("targets", "enroll-token", "--env", "dev")
    assert code == 1
    assert "targets:write" in err


def test_installed_revoke_agent_and_assignments(fleet: Fleet, cli: Cli) -> None:
    fleet.add_version("1.0")
    agent = fleet.agent()
    assignment = fleet.assign("web-01", "1.0")
    for state in ("downloading", "installing", "verifying", "succeeded"):
        assert agent.report(assignment, state).status_code == 200
    agent.send_inventory(
        {
            "installed": [],
            "unauthorised": [{"component": "shop", "current": "releases/evil", "reason": "?"}],
        }
    )
    cli.use(fleet.live.url, fleet.live.tokens["deployer"])
    code, out, _ = cli("targets", "installed", "web-01")
    assert code == 0
    assert "shop" in out
    assert "1.0" in out
    assert "warning: unauthorised shop release releases/evil: ?" in out
    code, out, _ = cli("targets", "installed", "web-01", "-o", "json")
    assert json.loads(out)["installed"][0]["version"] == "1.0"

    code, out, _ = cli("assignments", "list", "--target", "web-01", "--state", "succeeded")
    assert code == 0
    assert "succeeded" in out
    code, out, _ = cli("assignments", "list", "-o", "json")
    assert [a["id"] for a in json.loads(out)] == [assignment]
    code, out, _ = cli("assignments", "show", str(assignment))
    assert code == 0
    assert "verifying" in out
    assert "agent:web-01" in out
    code, out, _ = cli("assignments", "show", str(assignment), "-o", "json")
    assert len(json.loads(out)["events"]) == 5  # pending, then the four reports
    code, _, err = cli("assignments", "show", "999")
    assert (code, err.strip()) == (1, "error: assignment 999 not found")

    cli.use(fleet.live.url, fleet.live.tokens["deployment_manager"])
    code, out, _ = cli("targets", "revoke-agent", "web-01")
    assert (code, out.strip()) == (0, "Revoked the agent of target web-01.")
    answer = StandInAgent(fleet.live.url, agent.credential, "web-01").desired()
    assert answer.json()["error"]["code"] == "target_revoked"
