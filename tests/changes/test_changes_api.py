"""Change requests over the real API: life cycle, decisions, authorities, models."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest

from golive.auth.service import SYSTEM
from golive.changes import service
from golive.changes.rules import Work
from golive.db import utcnow
from golive.errors import PolicyError
from golive.inventory.service import get_environment
from tests.conftest import Cli
from tests.support.live import LiveServer

WINDOW = {"start": "2026-12-05T22:00:00", "end": "2026-12-06T02:00:00", "tz": "Europe/London"}


def _audit_count(live: LiveServer) -> int:
    with live.client("auditor") as http:
        verdict = http.get("/api/v1/audit/verify").json()
    assert verdict["ok"], verdict
    return int(verdict["last_seq"])


def _events(live: LiveServer, **filters: str) -> list[dict[str, Any]]:
    with live.client("auditor") as http:
        found: list[dict[str, Any]] = http.get(
            "/api/v1/audit/events", params={"limit": 1000, **filters}
        ).json()["items"]
    return found


def _token_for(live: LiveServer, name: str, roles: list[str]) -> str:
    with live.client() as http:
        made = http.post("/api/v1/principals", json={"name": name, "roles": roles})
        assert made.status_code == 201, made.text
        issued = http.post("/api/v1/tokens", json={"principal": name})
        assert issued.status_code == 201, issued.text
        secret: str = issued.json()["token"]
    return secret


@pytest.fixture
def estate(live: LiveServer) -> LiveServer:
    with live.client() as http:
        for body in (
            {"name": "production", "policy": {"requires_change": True}},
            {"name": "test"},
        ):
            assert http.post("/api/v1/environments", json=body).status_code == 201
        assert (
            http.post("/api/v1/components", json={"name": "shop", "kind": "software"}).status_code
            == 201
        )
        for name in ("web-01", "web-02"):
            made = http.post(
                "/api/v1/targets",
                json={"name": name, "environment": "production", "labels": {"role": "web"}},
            )
            assert made.status_code == 201
    return live


def _raise(http: httpx.Client, **extra: Any) -> dict[str, Any]:
    body = {
        "title": "Shop 2.0 to production",
        "environments": ["production"],
        "components": ["shop"],
        "targets": ["web-01", "web-02"],
        "risk": "medium",
        "backout_plan": "roll back to 1.0",
        **extra,
    }
    made = http.post("/api/v1/changes", json=body)
    assert made.status_code == 201, made.text
    created: dict[str, Any] = made.json()
    return created


def test_a_normal_change_from_draft_to_closed(estate: LiveServer) -> None:
    live = estate
    with live.client("deployer") as deployer, live.client("change_authority") as cab:
        change = _raise(deployer)
        ref = change["ref"]
        assert change["state"] == "draft"
        assert change["requester"] == "deployer"
        refused = deployer.post(f"/api/v1/changes/{ref}/submit")
        assert refused.status_code == 409
        assert "no planned window" in refused.json()["error"]["message"]
        edited = deployer.patch(f"/api/v1/changes/{ref}", json={"planned_windows": [WINDOW]})
        assert edited.status_code == 200, edited.text
        # 22:00 in London in December is 22:00 UTC (GMT).
        assert edited.json()["planned_windows"][0]["start"] == "2026-12-05T22:00:00+00:00"
        submitted = deployer.post(f"/api/v1/changes/{ref}/submit").json()
        assert submitted["state"] == "submitted"
        assert deployer.patch(f"/api/v1/changes/{ref}", json={"title": "x"}).status_code == 409
        inbox = cab.get("/api/v1/changes/inbox").json()["items"]
        assert [c["ref"] for c in inbox] == [ref]
        assert deployer.get("/api/v1/changes/inbox").json()["items"] == []
        shown = cab.get(f"/api/v1/changes/{ref}").json()
        assert shown["authorisation"] == "needs 1 more approval(s) from default (normal)"
        approved = cab.post(
            f"/api/v1/changes/{ref}/decisions", json={"decision": "approve", "reason": "CAB ok"}
        )
        assert approved.status_code == 200, approved.text
        assert approved.json()["state"] == "authorised"
        assert cab.get("/api/v1/changes/inbox").json()["items"] == []
        done = deployer.post(f"/api/v1/changes/{ref}/implemented", json={"outcome": "succeeded"})
        assert done.json()["state"] == "implemented"
        closed = deployer.post(f"/api/v1/changes/{ref}/close", json={})
        assert closed.json()["state"] == "closed"
        assert closed.json()["next_states"] == []
    actions = [e["action"] for e in _events(live, subject_type="change", subject_id=ref)]
    assert sorted(actions) == sorted(
        [
            "change.create",
            "change.update",
            "change.submit",
            "change.approve",
            "change.authorise",
            "change.implement",
            "change.close",
        ]
    )


@pytest.mark.parametrize(
    ("state_path", "verb", "body"),
    [
        ([], "close", {}),
        ([], "implemented", {}),
        (["submit"], "submit", None),
        (["submit", "approve"], "submit", None),
        (["submit", "reject"], "cancel", {"reason": "too late"}),
        (["submit", "approve", "implemented"], "cancel", {"reason": "oops"}),
    ],
    ids=[
        "close-draft",
        "implement-draft",
        "resubmit",
        "submit-authorised",
        "cancel-rejected",
        "cancel-implemented",
    ],
)
def test_illegal_moves_are_refused_and_change_nothing(
    estate: LiveServer, state_path: list[str], verb: str, body: dict[str, Any] | None
) -> None:
    live = estate
    with live.client("deployer") as deployer, live.client("change_authority") as cab:
        ref = _raise(deployer, planned_windows=[WINDOW])["ref"]
        for step in state_path:
            if step == "approve":
                answer = cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
            elif step == "reject":
                answer = cab.post(
                    f"/api/v1/changes/{ref}/decisions",
                    json={"decision": "reject", "reason": "no"},
                )
            else:
                answer = deployer.post(f"/api/v1/changes/{ref}/{step}", json={})
            assert answer.status_code == 200, answer.text
        before = deployer.get(f"/api/v1/changes/{ref}").json()
        seq = _audit_count(live)
        refused = deployer.post(f"/api/v1/changes/{ref}/{verb}", json=body or {})
        assert refused.status_code == 409, refused.text
        error = refused.json()["error"]
        assert error["details"]["allowed"] == before["next_states"]
        assert deployer.get(f"/api/v1/changes/{ref}").json() == before
        assert _audit_count(live) == seq


def test_nobody_approves_their_own_change(estate: LiveServer) -> None:
    live = estate
    secret = _token_for(live, "sam", ["deployer", "change_authority"])
    with live.client(token=secret) as sam:
        ref = _raise(sam, planned_windows=[WINDOW], submit=True)["ref"]
        seq = _audit_count(live)
        refused = sam.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        assert refused.status_code == 403
        assert "may not decide on it" in refused.json()["error"]["message"]
        shown = sam.get(f"/api/v1/changes/{ref}").json()
        assert shown["state"] == "submitted"
        assert shown["approvals"] == []
        assert sam.get("/api/v1/changes/inbox").json()["items"] == []
    assert _audit_count(live) == seq


def test_outsiders_are_refused_with_the_authority_named(estate: LiveServer) -> None:
    live = estate
    with live.client("deployer") as deployer, live.client("release_manager") as outsider:
        ref = _raise(deployer, planned_windows=[WINDOW], submit=True)["ref"]
        refused = outsider.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        assert refused.status_code == 403
        message = refused.json()["error"]["message"]
        assert "not in the change authority" in message
        assert "role change_authority" in message


def test_a_quorum_of_two_and_a_named_approver(estate: LiveServer) -> None:
    live = estate
    second = _token_for(live, "cab-2", ["change_authority"])
    olga = _token_for(live, "olga", ["deployment_manager"])
    with live.client("change_authority") as cab:
        made = cab.post(
            "/api/v1/change-authorities",
            json={
                "name": "prod-cab",
                "environment": "production",
                "change_type": "normal",
                "roles": ["change_authority"],
                "principals": ["olga"],
                "quorum": 2,
            },
        )
        assert made.status_code == 201, made.text
        clash = cab.post(
            "/api/v1/change-authorities",
            json={
                "name": "other",
                "environment": "production",
                "change_type": "normal",
                "roles": ["admin"],
            },
        )
        assert clash.status_code == 409
        assert "prod-cab already decides" in clash.json()["error"]["message"]
    with (
        live.client("deployer") as deployer,
        live.client("change_authority") as cab,
        live.client(token=second) as cab2,
        live.client(token=olga) as named,
    ):
        ref = _raise(deployer, planned_windows=[WINDOW], submit=True)["ref"]
        one = cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"}).json()
        assert one["state"] == "submitted"
        again = cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"}).json()
        assert again["state"] == "submitted"  # the same person counts once
        assert cab.get(f"/api/v1/changes/{ref}").json()["authorisation"] == (
            "needs 1 more approval(s) from prod-cab"
        )
        two = cab2.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"}).json()
        assert two["state"] == "authorised"
        # olga holds no change_authority role but is named: she may decide the next one.
        ref2 = _raise(deployer, planned_windows=[WINDOW], submit=True)["ref"]
        assert cab.post(f"/api/v1/changes/{ref2}/decisions", json={"decision": "approve"})
        answer = named.post(f"/api/v1/changes/{ref2}/decisions", json={"decision": "approve"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["state"] == "authorised"


def test_a_rejection_needs_a_reason_and_ends_the_change(estate: LiveServer) -> None:
    live = estate
    with live.client("deployer") as deployer, live.client("change_authority") as cab:
        ref = _raise(deployer, planned_windows=[WINDOW], submit=True)["ref"]
        bare = cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "reject"})
        assert bare.status_code == 422
        assert "needs a reason" in bare.json()["error"]["message"]
        rejected = cab.post(
            f"/api/v1/changes/{ref}/decisions",
            json={"decision": "reject", "reason": "clashes with the sale"},
        ).json()
        assert rejected["state"] == "rejected"
        assert rejected["state_reason"] == "clashes with the sale"
        late = cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        assert late.status_code == 409


def test_approvals_expire(estate: LiveServer) -> None:
    live = estate
    with live.client("change_authority") as cab:
        made = cab.post(
            "/api/v1/change-authorities",
            json={
                "name": "prod-cab",
                "environment": "production",
                "change_type": "normal",
                "roles": ["change_authority"],
                "approval_valid_hours": 4,
            },
        )
        assert made.status_code == 201, made.text
    with live.client("deployer") as deployer, live.client("change_authority") as cab:
        ref = _raise(deployer, planned_windows=[WINDOW], submit=True)["ref"]
        authorised = cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        shown = authorised.json()
        assert shown["state"] == "authorised"
        assert shown["authorised_until"] is not None
    work = Work("production", frozenset({"shop"}), {"web-01": {"role": "web"}}, "phased")
    with live.db.reading() as session:
        production = get_environment(session, "production")
        cleared = service.clear_deployment(session, SYSTEM, production, ref, work)
        assert cleared.change is not None
        assert cleared.change.ref == ref
        later = utcnow() + timedelta(hours=5)
        with pytest.raises(PolicyError, match="expired"):
            service.clear_deployment(session, SYSTEM, production, ref, work, now=later)
        tally = service.standing(session, service.get_change(session, ref), later)
        assert not tally.authorised


def test_an_emergency_change_is_fast_and_reviewed_afterwards(estate: LiveServer) -> None:
    live = estate
    with live.client("change_authority") as cab:
        made = cab.post(
            "/api/v1/change-authorities",
            json={"name": "ecab", "change_type": "emergency", "roles": ["deployment_manager"]},
        )
        assert made.status_code == 201, made.text
    with (
        live.client("deployer") as deployer,
        live.client("deployment_manager") as ecab,
        live.client("change_authority") as reviewer,
    ):
        ref = _raise(deployer, type="emergency", submit=True)["ref"]  # no window needed
        assert cab_refused(reviewer, ref)  # the normal authority is not the emergency one
        authorised = ecab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        assert authorised.json()["state"] == "authorised"
        done = deployer.post(f"/api/v1/changes/{ref}/implemented", json={"outcome": "succeeded"})
        assert done.json()["review_required"] is True
        early = deployer.post(f"/api/v1/changes/{ref}/close", json={})
        assert early.status_code == 409
        assert "has not been reviewed" in early.json()["error"]["message"]
        reviewed = reviewer.post(f"/api/v1/changes/{ref}/review", json={"reason": "justified"})
        assert reviewed.status_code == 200, reviewed.text
        assert reviewed.json()["reviewed_by"] == "change-authority"
        assert deployer.post(f"/api/v1/changes/{ref}/close", json={}).json()["state"] == "closed"


def cab_refused(http: httpx.Client, ref: str) -> bool:
    answer = http.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
    return answer.status_code == 403 and "ecab" in answer.json()["error"]["message"]


def test_a_standard_change_is_authorised_by_its_model(estate: LiveServer) -> None:
    live = estate
    with live.client("change_authority") as cab:
        made = cab.post(
            "/api/v1/change-models",
            json={
                "name": "shop-patch",
                "environments": ["production"],
                "components": ["shop"],
                "target_labels": {"role": "web"},
                "max_targets": 5,
                "strategies": ["phased"],
            },
        )
        assert made.status_code == 201, made.text
    with live.client("deployer") as deployer, live.client("change_authority") as cab:
        change = _raise(deployer, type="standard", model="shop-patch", submit=True)
        assert change["state"] == "authorised"
        assert change["model"] == "shop-patch"
        refused = cab.post(
            f"/api/v1/changes/{change['ref']}/decisions", json={"decision": "approve"}
        )
        assert refused.status_code == 409
        outside = deployer.post(
            "/api/v1/changes",
            json={
                "type": "standard",
                "model": "shop-patch",
                "title": "t",
                "environments": ["test"],
                "components": ["shop"],
                "submit": True,
            },
        )
        assert outside.status_code == 409
        assert "outside standard change model shop-patch" in outside.json()["error"]["message"]
        no_model = deployer.post(
            "/api/v1/changes",
            json={"type": "standard", "title": "t", "environments": ["test"]},
        )
        assert no_model.status_code == 422
    authorise = _events(live, action="change.authorise")
    assert [e["after"]["by"] for e in authorise] == ["standard change model shop-patch"]


BAD = [
    ({"title": "t", "environments": ["nowhere"]}, 404, "unknown environments: nowhere"),
    ({"title": "t", "environments": []}, 422, "environments"),
    ({"title": "", "environments": ["test"]}, 422, "title"),
    ({"title": "t", "environments": ["test"], "risk": "extreme"}, 422, "risk"),
    (
        {
            "title": "t",
            "environments": ["test"],
            "planned_windows": [{"start": "2026-12-05T22:00", "end": "2026-12-05T21:00"}],
        },
        422,
        "end after it starts",
    ),
    (
        {
            "title": "t",
            "environments": ["test"],
            "planned_windows": [
                {"start": "2026-12-05T22:00", "end": "2026-12-05T23:00", "tz": "Mars/Olympus"}
            ],
        },
        422,
        "not a known IANA time zone",
    ),
    ({"title": "t", "environments": ["test"], "model": "x"}, 422, "only standard changes"),
    ({"title": "t", "environments": ["test"], "surprise": 1}, 422, "surprise"),
]


@pytest.mark.parametrize(("body", "status", "words"), BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_input_is_refused_and_changes_nothing(
    estate: LiveServer, body: dict[str, Any], status: int, words: str
) -> None:
    live = estate
    seq = _audit_count(live)
    with live.client("deployer") as deployer:
        answer = deployer.post("/api/v1/changes", json=body)
        assert answer.status_code == status, answer.text
        assert words in json.dumps(answer.json()["error"])
        assert deployer.get("/api/v1/changes").json()["items"] == []
        assert deployer.get("/api/v1/changes/CHG-x").status_code == 422
        assert deployer.get("/api/v1/changes/CHG-999").status_code == 404
    assert _audit_count(live) == seq


def test_the_cli_raises_approves_and_shows_changes(estate: LiveServer, cli: Cli) -> None:
    live = estate
    cli.use(live.url, live.tokens["deployer"])
    code, out, err = cli(
        "changes", "create", "--title", "Shop 2.0", "--env", "production",
        "--component", "shop", "--target", "web-01",
        "--window", "2026-12-05T22:00/2026-12-06T02:00", "--tz", "Europe/London",
        "--submit", "--output", "json",
    )  # fmt: skip
    assert code == 0, err
    ref = json.loads(out)["ref"]
    cli.use(live.url, live.tokens["change_authority"])
    code, out, _ = cli("changes", "inbox")
    assert code == 0
    assert ref in out
    code, out, err = cli("changes", "approve", ref, "--reason", "fine")
    assert code == 0, err
    assert f"Change {ref} is authorised." in out
    code, out, err = cli("changes", "reject", ref, "--reason", "too late")
    assert code == 1
    assert "already authorised" in err
    code, out, _ = cli("changes", "list", "--state", "authorised", "--output", "json")
    assert [c["ref"] for c in json.loads(out)] == [ref]
    code, out, err = cli("changes", "create", "--title", "x")
    assert code == 2
    assert "--env" in err
