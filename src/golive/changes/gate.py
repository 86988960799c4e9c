"""The time gate between a deployment's waves: may a wave start now, and if not, when?

A wave may start when every one of these holds at that moment:

- no deny (freeze) window that applies to the deployment is in force, unless the
  deployment runs under an emergency change that overrides freezes with a reason;
- where the environment's policy says so (``requires_window``), an allow
  (maintenance) window that applies is open;
- where the deployment's change has planned windows, one of them is open.

A gate that is closed queues the deployment until it opens (DESIGN.md, "policy gates");
it never fails or skips it. The verdict says when it opens and when the open period
closes, so the engine can sleep until then.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from golive.changes.models import ChangeRequest
from golive.changes.rules import ChangeType
from golive.changes.windows import Verdict, Window, WindowScope, evaluate

HORIZON = timedelta(days=400)
_SEARCH_STEPS = 50


@dataclass(frozen=True)
class WaveGate:
    """Whether a wave may start at ``at``."""

    at: datetime
    is_open: bool
    reason: str
    opens_at: datetime | None = None  # when closed: the next moment it may open
    closes_at: datetime | None = None  # when open: when the open period ends
    overridden: tuple[str, ...] = ()  # deny windows an emergency change overrode


def _change_windows(change: ChangeRequest) -> list[Window]:
    """A change's planned windows as allow windows scoped to nothing but itself."""
    found = []
    for index, planned in enumerate(change.planned_windows, start=1):
        start = datetime.fromisoformat(planned["start"])
        end = datetime.fromisoformat(planned["end"])
        found.append(
            Window(
                name=f"{change.ref} planned window {index}",
                kind="allow",
                tz="UTC",
                start=start.replace(tzinfo=None, microsecond=0),
                end=end.replace(tzinfo=None, microsecond=0),
                scope=WindowScope(),
            )
        )
    return found


def wave_gate(
    windows: Sequence[Window],
    change: ChangeRequest | None,
    *,
    at: datetime,
    environment: str,
    policy: Mapping[str, object],
    label_sets: Sequence[Mapping[str, str]],
    components: frozenset[str],
) -> WaveGate:
    """The gate for a wave of targets carrying ``label_sets``, at ``at``."""
    override = (
        change is not None
        and change.kind == ChangeType.EMERGENCY
        and bool(change.freeze_override_reason)
    )
    usable = [w for w in windows if not (override and w.kind == "deny")]
    overridden: tuple[str, ...] = ()
    if override:
        in_force = [
            w.name
            for w in windows
            for labels in label_sets
            if w.kind == "deny"
            and evaluate(
                [w],
                at,
                environment=environment,
                target_labels=labels,
                components=components,
                requires_allow_window=False,
            ).blocked_by
        ]
        overridden = tuple(sorted(set(in_force)))
    planned = _change_windows(change) if change is not None and change.planned_windows else []

    def verdicts_at(moment: datetime) -> list[Verdict]:
        found = [
            evaluate(
                usable,
                moment,
                environment=environment,
                target_labels=labels,
                components=components,
                requires_allow_window=bool(policy.get("requires_window")),
                horizon=HORIZON,
            )
            for labels in label_sets or [{}]
        ]
        if planned:
            found.append(
                evaluate(
                    planned,
                    moment,
                    environment=environment,
                    target_labels={},
                    components=components,
                    requires_allow_window=True,
                    horizon=HORIZON,
                )
            )
        return found

    verdicts = verdicts_at(at)
    closed = [v for v in verdicts if not v.is_open]
    if not closed:
        ends = [v.closes_at for v in verdicts if v.closes_at is not None]
        until = min(ends) if ends else None
        return WaveGate(at, True, "open", closes_at=until, overridden=overridden)
    reason = "; ".join(dict.fromkeys(v.reason for v in closed))
    # Each rule opens on its own schedule; look for a moment when all of them are open.
    candidate: datetime | None = at
    for _ in range(_SEARCH_STEPS):
        openings = [v.opens_at for v in verdicts if not v.is_open]
        if candidate is None or any(o is None for o in openings):
            candidate = None
            break
        candidate = max(o for o in openings if o is not None)
        if candidate - at > HORIZON:
            candidate = None
            break
        verdicts = verdicts_at(candidate)
        if all(v.is_open for v in verdicts):
            break
    else:
        candidate = None
    opens_at = candidate
    return WaveGate(at, False, reason, opens_at=opens_at, overridden=overridden)
