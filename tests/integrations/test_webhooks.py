"""Webhooks over a real server and real receivers: signed change events, retries with
backoff, the delivery log in the CLI, and the tailer's rules on the records."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from golive import audit
from golive.auth.service import SYSTEM
from golive.db import Database, utcnow
from golive.integrations.models import Webhook
from golive.integrations.schemas import WebhookCreate
from golive.integrations.sealing import SecretBox
from golive.integrations.service import audit_head_seq, create_webhook
from golive.integrations.webhooks import claim_due, enqueue_new_events
from tests.conftest import Cli
from tests.integrations.conftest import FAST_BACKOFF
from tests.integrations.receiver import Received, receiving
from tests.support.live import LiveServer

WINDOW = {"start": "2026-12-05T22:00:00Z", "end": "2026-12-06T02:00:00Z"}


def signed_with(received: Received, secret: str) -> bool:
    """Whether any signature of the delivery checks out with ``secret`` (docs/itsm.md)."""
    stamp = received.headers["x-golive-timestamp"]
    expected = hmac.new(secret.encode(), stamp.encode() + b"." + received.body, hashlib.sha256)
    given = received.headers["x-golive-signature"].split(", ")
    return any(hmac.compare_digest(one, "sha256=" + expected.hexdigest()) for one in given)


def verified(received: Received, secret: str) -> dict[str, Any]:
    """The payload, after checking its signature as a receiver would (docs/itsm.md)."""
    stamp = received.headers["x-golive-timestamp"]
    assert signed_with(received, secret)
    assert abs(time.time() - int(stamp)) < 60
    payload: dict[str, Any] = json.loads(received.body)
    assert received.headers["x-golive-delivery"] == str(payload["id"])
    assert received.headers["x-golive-event"] == payload["event"]
    return payload


def last_seq(live: LiveServer) -> int:
    with live.client("auditor") as http:
        verdict = http.get("/api/v1/audit/verify").json()
    assert verdict["ok"], verdict
    return int(verdict["last_seq"])


def raise_change(live: LiveServer, title: str, *, submit: bool = False) -> str:
    with live.client("deployer") as http:
        made = http.post(
            "/api/v1/changes",
            json={
                "title": title,
                "environments": ["production"],
                "planned_windows": [WINDOW],
                "external_ref": f"EXT-{title}",
                "submit": submit,
            },
        )
        assert made.status_code == 201, made.text
        ref: str = made.json()["ref"]
    return ref


def deliveries(live: LiveServer, **params: str) -> list[dict[str, Any]]:
    with live.client("auditor") as http:
        answer = http.get("/api/v1/webhook-deliveries", params=params)
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
    return items


def wait_for_state(live: LiveServer, webhook: str, state: str, count: int) -> list[dict[str, Any]]:
    deadline = time.monotonic() + 20
    while True:
        found = deliveries(live, webhook=webhook, state=state)
        if len(found) >= count:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"{webhook}: {deliveries(live, webhook=webhook)}")
        time.sleep(0.05)


@pytest.fixture
def production(live: LiveServer) -> LiveServer:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
    return live


def test_change_events_reach_a_receiver_signed(production: LiveServer, cli: Cli) -> None:
    live = production
    cli.use(live.url, live.tokens["admin"])
    before_hook = raise_change(live, "before")  # happened before the subscription
    with receiving() as receiver:
        code, out, err = cli(
            "webhooks", "create", "itsm-feed", "--url", receiver.url, "--event", "change.*"
        )
        assert code == 0, err
        assert "will not be shown again" in out
        secret = out.strip().splitlines()[-1].strip()
        assert secret.startswith("glvw_")

        ref = raise_change(live, "after", submit=True)
        with live.client() as http:  # not a change event: not sent
            assert http.post("/api/v1/environments", json={"name": "test"}).status_code == 201
        seq = last_seq(live)
        got = [verified(each, secret) for each in receiver.wait_for(2)]
        wait_for_state(live, "itsm-feed", "delivered", 2)
        time.sleep(0.3)  # anything else would have arrived by now
        assert len(receiver.requests) == 2

    by_seq = sorted(got, key=lambda payload: payload["audit"]["seq"])
    assert [p["event"] for p in by_seq] == ["change.create", "change.submit"]
    submit = by_seq[1]
    assert submit["webhook"] == "itsm-feed"
    assert submit["audit"]["actor"] == "deployer"
    assert submit["audit"]["subject_id"] == ref
    assert submit["audit"]["after"] == {"state": "submitted"}
    assert submit["change"]["ref"] == ref
    assert submit["change"]["external_ref"] == "EXT-after"
    assert submit["change"]["state"] == "submitted"
    assert before_hook not in {p["audit"]["subject_id"] for p in got}
    # Delivering wrote no audit event (it would be delivered in turn, forever).
    assert last_seq(live) == seq

    code, out, err = cli("webhooks", "deliveries", "--webhook", "itsm-feed")
    assert code == 0, err
    assert "change.submit" in out
    assert "delivered" in out
    code, out, err = cli("webhooks", "list")
    assert code == 0, err
    assert "itsm-feed" in out
    assert secret not in out


def test_failing_receivers_are_retried_with_backoff(production: LiveServer, cli: Cli) -> None:
    live = production
    cli.use(live.url, live.tokens["admin"])
    with receiving(fail_first=2) as flaky, receiving(fail_first=100) as down:
        secrets = {}
        with live.client() as http:
            for name, url in (("flaky", flaky.url), ("down", down.url)):
                made = http.post(
                    "/api/v1/webhooks", json={"name": name, "url": url, "events": ["change.create"]}
                )
                assert made.status_code == 201, made.text
                secrets[name] = made.json()["secret"]
        raise_change(live, "retried")

        tries = flaky.wait_for(3)
        assert [each.status for each in tries] == [500, 500, 204]
        assert len({each.headers["x-golive-delivery"] for each in tries}) == 1
        for gap, delay in zip(
            (tries[1].at - tries[0].at, tries[2].at - tries[1].at), FAST_BACKOFF, strict=True
        ):
            assert gap >= delay - 0.05, (gap, delay)
        assert {json.dumps(verified(each, secrets["flaky"])) for each in tries} == {
            json.dumps(verified(tries[0], secrets["flaky"]))
        }
        (done,) = wait_for_state(live, "flaky", "delivered", 1)
        assert done["attempts"] == 3
        assert [entry["status"] for entry in done["history"]] == [500, 500, 204]
        assert done["last_error"] is None

        # Three attempts in all (two waits), then the delivery is failed.
        (failed,) = wait_for_state(live, "down", "failed", 1)
        assert failed["attempts"] == 3
        assert failed["last_status"] == 500
        assert "HTTP 500" in failed["last_error"]
        assert len(down.requests) == 3
        code, out, err = cli("webhooks", "deliveries", "--state", "failed")
        assert code == 0, err
        assert "down" in out
        assert "HTTP 500" in out
        assert "flaky" not in out

        code, out, err = cli("webhooks", "delivery", str(failed["id"]))
        assert code == 0, err
        assert out.count("HTTP 500") >= 3  # one row per attempt
        assert '"event": "change.create"' in out

        # Once the receiver is back, a person retries it.
        down.fail_first = 0
        code, out, err = cli("webhooks", "retry", str(failed["id"]))
        assert code == 0, err
        assert "pending again" in out
        (redone,) = wait_for_state(live, "down", "delivered", 1)
        assert redone["attempts"] == 4
        code, out, err = cli("webhooks", "retry", str(failed["id"]))
        assert code == 1
        assert "only a failed one is retried" in err


def test_tailer_rules(db: Database) -> None:
    """Filters, events before a subscription, no double queueing, paused subscriptions,
    leases; on the records."""
    box = SecretBox.generate()

    def record(session: Session, action: str, subject: str = "x") -> None:
        audit.record(
            session,
            actor="someone",
            action=action,
            subject_type=action.split(".")[0],
            subject_id=subject,
        )

    with db.writing() as session:
        record(session, "change.create", "CHG-999")  # before the webhook
        spec = WebhookCreate(
            name="feed", url="http://127.0.0.1:9/hook", events=["deployment.*", "change.cancel"]
        )
        create_webhook(session, SYSTEM, box, spec)
        paused = WebhookCreate(name="paused", url="http://127.0.0.1:9/p", active=False)
        create_webhook(session, SYSTEM, box, paused)
        record(session, "deployment.succeeded", "77")
        record(session, "deployment_version.create")
        record(session, "change.cancel", "CHG-999")
        record(session, "change.submit", "CHG-999")
    with db.writing() as session:
        seq_before = audit_head_seq(session)
        read, queued = enqueue_new_events(session, utcnow())
        assert queued == 2 + 3  # feed: 2; paused (change.*, deployment.*): 3, held
        assert read > 0
    with db.writing() as session:
        assert enqueue_new_events(session, utcnow()) == (0, 0)  # the cursor moved
        assert audit_head_seq(session) == seq_before  # and wrote no audit event
        now = utcnow()
        claimed = claim_due(session, box, now, lease=timedelta(seconds=60))
        assert sorted(c.event for c in claimed) == ["change.cancel", "deployment.succeeded"]
        first = json.loads(next(c.body for c in claimed if c.event == "deployment.succeeded"))
        assert first["deployment"] is None  # no such deployment: the audit event still goes
        assert first["audit"]["subject_id"] == "77"
        # Leased: nobody takes them again until the lease runs out.
        assert claim_due(session, box, now, lease=timedelta(seconds=60)) == []
        again = claim_due(session, box, now + timedelta(seconds=61), lease=timedelta(seconds=60))
        assert sorted(c.attempt for c in again) == [2, 2]


def test_rotating_a_signing_secret_with_and_without_an_overlap(
    production: LiveServer, cli: Cli
) -> None:
    live = production
    cli.use(live.url, live.tokens["admin"])
    with receiving() as receiver:
        code, out, err = cli(
            "webhooks", "create", "feed", "--url", receiver.url, "--event", "change.create"
        )
        assert code == 0, err
        first = out.strip().splitlines()[-1].strip()
        raise_change(live, "one")
        [one] = receiver.wait_for(1)
        assert one.headers["x-golive-signature"].count("sha256=") == 1
        verified(one, first)

        # With an overlap, the old secret signs too: a receiver holding either accepts.
        code, out, err = cli("webhooks", "rotate", "feed", "--overlap-hours", "2")
        assert code == 0, err
        assert "the old one also signs until" in " ".join(out.split())
        second = out.strip().splitlines()[-1].strip()
        assert second.startswith("glvw_")
        assert second != first
        raise_change(live, "two")
        two = receiver.wait_for(2)[1]
        assert two.headers["x-golive-signature"].count("sha256=") == 2
        verified(two, second)
        verified(two, first)

        # The overlap over, only the new secret signs.
        with live.db.writing() as session:
            hook = session.scalars(select(Webhook).where(Webhook.name == "feed")).one()
            hook.previous_secret_until = utcnow() - timedelta(seconds=1)
        raise_change(live, "three")
        three = receiver.wait_for(3)[2]
        verified(three, second)
        assert not signed_with(three, first)

        # Without an overlap the old secret stops at once.
        code, out, err = cli("webhooks", "rotate", "feed")
        assert code == 0, err
        assert "the old one stopped" in out
        third = out.strip().splitlines()[-1].strip()

        # Bad input changes nothing.
        with live.client() as http:
            for wrong in (-1, 169, "soon"):
                refused = http.post("/api/v1/webhooks/feed/rotate", json={"overlap_hours": wrong})
                assert refused.status_code == 422, refused.text
            missing = http.post("/api/v1/webhooks/nobody/rotate", json={})
            assert missing.status_code == 404
            shown = http.get("/api/v1/webhooks/feed").json()
        assert shown["previous_secret_until"] is None
        raise_change(live, "four")
        four = receiver.wait_for(4)[3]
        assert four.headers["x-golive-signature"].count("sha256=") == 1
        verified(four, third)
        assert not signed_with(four, second)

    with live.client("auditor") as http:
        events = http.get(
            "/api/v1/audit/events", params={"action": "webhook.rotate", "subject_id": "feed"}
        ).json()["items"]
        trail = http.get("/api/v1/audit/export").text
    assert len(events) == 2
    assert events[0]["after"]["previous_secret_until"] is not None
    assert events[1]["after"]["previous_secret_until"] is None
    assert all(secret not in trail for secret in (first, second, third))
