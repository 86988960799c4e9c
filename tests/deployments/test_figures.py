"""Delivery figures from deployment rows (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from golive.deployments.figures import DeploymentRow, delivery

T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _row(number: int, state: str, day: int, minutes: int, component: str = "shop") -> DeploymentRow:
    start = T0 + timedelta(days=day)
    return DeploymentRow(
        id=number,
        environment="production",
        components=frozenset({component}),
        state=state,
        started_at=start,
        finished_at=start + timedelta(minutes=minutes),
        registered_at=start - timedelta(hours=1),
    )


def test_delivery_figures() -> None:
    rows = [
        _row(1, "succeeded", 0, 10),
        _row(2, "rolled_back", 1, 10),
        _row(3, "succeeded", 1, 70),  # restores 2 an hour after it ended
        _row(4, "failed", 2, 5, component="api"),  # never restored
        _row(5, "aborted", 2, 1),
    ]
    found = delivery(rows, T0, T0 + timedelta(days=3))
    assert [d["started"] for d in found["per_day"]["days"]] == [1, 2, 2]
    assert found["per_day"]["total"] == 5
    assert found["outcomes"]["by_state"] == {
        "aborted": 1,
        "failed": 1,
        "rolled_back": 1,
        "succeeded": 2,
    }
    assert found["outcomes"]["success_rate"] == 0.4
    assert found["outcomes"]["rollback_rate"] == 0.2
    assert found["change_failure_rate"]["rate"] == 0.4
    assert found["lead_time_seconds"]["count"] == 2
    assert found["lead_time_seconds"]["median"] == (70 + 130) / 2 * 60
    assert found["time_to_restore_seconds"]["count"] == 1
    assert found["time_to_restore_seconds"]["median"] == 3600.0
    assert all(figure["computed_from"] for key, figure in found.items() if isinstance(figure, dict))


def test_no_deployments_gives_no_rates() -> None:
    found = delivery([], T0, T0 + timedelta(days=7))
    assert len(found["per_day"]["days"]) == 7
    assert found["outcomes"]["success_rate"] is None
    assert found["change_failure_rate"]["rate"] is None
    assert found["lead_time_seconds"]["median"] is None
