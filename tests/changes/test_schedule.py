"""The schedule: conflicts as pure functions, then windows, /schedule and the iCalendar
feed over the real API."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from icalendar import Calendar

from golive.changes.schedule import Entry, conflicts
from golive.changes.windows import Window
from tests.conftest import Cli
from tests.support.live import LiveServer

T0 = datetime(2026, 12, 5, 20, 0, tzinfo=UTC)
WEB = {"role": "web"}


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def change(ref: str, start: float, end: float, targets: list[str] | None, **extra: Any) -> Entry:
    return Entry(
        kind="change",
        ref=ref,
        title=ref,
        start=at(start),
        end=at(end),
        environment=extra.pop("environment", "production"),
        state="authorised",
        components=frozenset({"shop"}),
        targets=None if targets is None else {name: WEB for name in targets},
        **extra,
    )


def deployment(ref: str, start: float, end: float, targets: list[str], **extra: Any) -> Entry:
    return Entry(
        kind="deployment",
        ref=ref,
        title=ref,
        start=at(start),
        end=at(end),
        environment="production",
        state="running",
        components=frozenset({"shop"}),
        targets={name: WEB for name in targets},
        **extra,
    )


FREEZE = Window.parse(
    {
        "name": "xmas-freeze",
        "kind": "deny",
        "tz": "Europe/London",
        "start": "2026-12-06T00:00:00",
        "end": "2026-12-07T00:00:00",
        "scope": {"environments": ["production"]},
    }
)
SATURDAY_NIGHTS = Window.parse(
    {
        "name": "saturday-nights",
        "kind": "allow",
        "tz": "Europe/London",
        "start": "2026-11-28T22:00:00",
        "duration": "4h",
        "rrule": "FREQ=WEEKLY;BYDAY=SA",
        "scope": {"environments": ["production"]},
    }
)
CASES = [
    ("nothing planned", [], [], []),
    (
        "two changes on the same target overlap",
        [change("CHG-1", 2, 4, ["web-01"]), change("CHG-2", 3, 5, ["web-01", "web-02"])],
        [],
        [("overlap", ("CHG-1", "CHG-2"))],
    ),
    (
        "same time, other targets",
        [change("CHG-1", 2, 4, ["web-01"]), change("CHG-2", 3, 5, ["web-02"])],
        [],
        [],
    ),
    (
        "touching is not overlapping",
        [change("CHG-1", 2, 4, ["web-01"]), change("CHG-2", 4, 5, ["web-01"])],
        [],
        [],
    ),
    (
        "environment-wide change overlaps any target",
        [change("CHG-1", 2, 4, None), deployment("deployment 1", 3, 5, ["web-09"])],
        [],
        [("overlap", ("CHG-1", "deployment 1"))],
    ),
    (
        "other environment",
        [change("CHG-1", 2, 4, None, environment="test"), change("CHG-2", 2, 4, None)],
        [],
        [],
    ),
    (
        "a deployment under its own change is not a clash",
        [
            change("CHG-1", 2, 4, ["web-01"]),
            deployment("deployment 1", 2, 3, ["web-01"], change_ref="CHG-1"),
        ],
        [],
        [],
    ),
    (
        "two deployments on the same target",
        [
            deployment("deployment 1", 2, 3, ["web-01"]),
            deployment("deployment 2", 2.5, 4, ["web-01"]),
        ],
        [],
        [("overlap", ("deployment 1", "deployment 2"))],
    ),
    (
        "a deployment inside a freeze",
        [deployment("deployment 1", 5, 6, ["web-01"])],  # 01:00-02:00 on the 6th
        [FREEZE],
        [("inside_deny_window", ("deployment 1",))],
    ),
    (
        "a change inside a freeze",
        [change("CHG-1", 5, 6, ["web-01"])],
        [FREEZE],
        [("inside_deny_window", ("CHG-1",))],
    ),
    (
        "a deployment before the freeze",
        [deployment("deployment 1", 2, 3, ["web-01"])],
        [FREEZE],
        [],
    ),
    (
        "a change inside the Saturday window",
        [change("CHG-1", 2.5, 5, ["web-01"])],  # 22:30-01:00, window 22:00-02:00
        [SATURDAY_NIGHTS],
        [],
    ),
    (
        "a change running past the Saturday window",
        [change("CHG-1", 3, 7, ["web-01"])],  # 23:00-03:00
        [SATURDAY_NIGHTS],
        [("outside_allow_windows", ("CHG-1",))],
    ),
    (
        "no allow windows in use: nothing to be outside of",
        [change("CHG-1", 3, 7, ["web-01"], environment="test")],
        [SATURDAY_NIGHTS],
        [],
    ),
]


@pytest.mark.parametrize(
    ("entries", "windows", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_conflicts(
    entries: list[Entry], windows: list[Window], expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    found = conflicts(entries, windows)
    assert [(c.kind, c.refs) for c in found] == expected
    for conflict in found:
        assert all(ref in conflict.message for ref in conflict.refs)


@pytest.fixture
def estate(live: LiveServer) -> LiveServer:
    with live.client() as http:
        assert http.post("/api/v1/environments", json={"name": "production"}).status_code == 201
        assert (
            http.post("/api/v1/components", json={"name": "shop", "kind": "software"}).status_code
            == 201
        )
        for name in ("web-01", "web-02"):
            body = {"name": name, "environment": "production", "labels": WEB}
            assert http.post("/api/v1/targets", json=body).status_code == 201
    return live


def _window(http: Any, **body: Any) -> dict[str, Any]:
    made = http.post("/api/v1/windows", json=body)
    assert made.status_code == 201, made.text
    shown: dict[str, Any] = made.json()
    return shown


def test_windows_schedule_conflicts_and_the_ical_feed(estate: LiveServer, cli: Cli) -> None:
    live = estate
    with live.client("change_authority") as cab:
        weekly = _window(
            cab,
            name="saturday-nights",
            kind="allow",
            tz="Europe/London",
            start="2026-11-28T22:00:00",
            duration="4h",
            rrule="FREQ=WEEKLY;BYDAY=SA",
            scope={"environments": ["production"]},
        )
        # 22:00 London on a Saturday in winter is 22:00 UTC.
        assert weekly["next"][0]["end"].endswith("+00:00")
        _window(
            cab,
            name="xmas-freeze",
            kind="deny",
            tz="Europe/London",
            start="2026-12-06T00:00:00",
            end="2026-12-07T00:00:00",
            scope={"environments": ["production"]},
        )
        bad = cab.post(
            "/api/v1/windows",
            json={"name": "bad", "kind": "allow", "start": "2026-12-01T00:00:00",
                  "duration": "1h", "rrule": "FREQ=SOMETIMES"},
        )  # fmt: skip
        assert bad.status_code == 422
        assert cab.get("/api/v1/windows/bad").status_code == 404
    with live.client("deployer") as deployer, live.client("change_authority") as cab:
        first = deployer.post(
            "/api/v1/changes",
            json={"title": "shop 2", "environments": ["production"], "components": ["shop"],
                  "targets": ["web-01"], "submit": True,
                  "planned_windows": [{"start": "2026-12-05T23:00:00Z",
                                       "end": "2026-12-06T03:00:00Z"}]},
        ).json()  # fmt: skip
        second = deployer.post(
            "/api/v1/changes",
            json={"title": "shop db", "environments": ["production"], "components": ["shop"],
                  "submit": True,
                  "planned_windows": [{"start": "2026-12-05T22:00:00Z",
                                       "end": "2026-12-05T23:30:00Z"}]},
        ).json()  # fmt: skip
        for ref in (first["ref"], second["ref"]):
            assert cab.post(f"/api/v1/changes/{ref}/decisions", json={"decision": "approve"})
        plan = deployer.get(
            "/api/v1/schedule",
            params={"from": "2026-12-05T00:00:00Z", "to": "2026-12-08T00:00:00Z"},
        ).json()
    assert sorted(c["ref"] for c in plan["changes"]) == sorted([first["ref"], second["ref"]])
    kinds = sorted((c["kind"], tuple(c["refs"])) for c in plan["conflicts"])
    assert kinds == [
        ("inside_deny_window", (first["ref"],)),
        ("outside_allow_windows", (first["ref"],)),
        ("overlap", (second["ref"], first["ref"])),
    ]
    saturday = next(w for w in plan["windows"] if w["name"] == "saturday-nights")
    assert saturday["occurrences"] == [
        {"start": "2026-12-05T22:00:00+00:00", "end": "2026-12-06T02:00:00+00:00"}
    ]

    feed = httpx_get(live, "/api/v1/schedule.ics?from=2026-12-05T00:00:00Z&to=2026-12-08T00:00:00Z")
    assert feed.headers["content-type"].startswith("text/calendar")
    parsed = Calendar.from_ical(feed.content)
    events = {str(e["uid"]): e for e in parsed.walk("VEVENT")}
    window_event = events["window-saturday-nights@golive"]
    assert window_event["rrule"]["FREQ"] == ["WEEKLY"]
    assert window_event.decoded("dtstart").tzinfo is not None
    summaries = [str(e["summary"]) for e in events.values()]
    assert any(s.startswith(f"CONFLICT {first['ref']}") for s in summaries)
    assert any(s == "Freeze: xmas-freeze" for s in summaries)
    with live.client(role=None) as anonymous:
        assert anonymous.get("/api/v1/schedule.ics").status_code == 401
    end_user = httpx_get(live, f"/api/v1/schedule.ics?token={live.tokens['end_user']}", raw=True)
    assert end_user.status_code == 403

    cli.use(live.url, live.tokens["auditor"])
    code, out, err = cli(
        "schedule", "--from", "2026-12-05T00:00:00Z", "--to", "2026-12-08T00:00:00Z"
    )
    assert code == 0, err
    assert "saturday-nights" in out
    assert "Conflict (overlap)" in err


def httpx_get(live: LiveServer, path: str, raw: bool = False) -> Any:
    """A GET the way a calendar client makes it: the token in the URL, no header."""
    import httpx

    url = live.url + path
    if not raw:
        url += ("&" if "?" in url else "?") + f"token={live.tokens['auditor']}"
    answer = httpx.get(url, timeout=30)
    if not raw:
        assert answer.status_code == 200, answer.text
    return answer
