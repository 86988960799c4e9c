"""The schedule of changes as pure functions: what is planned when, and what clashes.

Entries are changes (their planned windows) and deployments (planned or running);
windows are ``golive.changes.windows.Window``. ``conflicts`` finds:

- two entries overlapping in time on the same targets (a deployment and the change it
  runs under are one piece of work, not a clash);
- a deployment or change planned or running inside a deny window that applies to it;
- a change whose planned window is not inside an allow window, where allow windows
  are in use for its environment.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from golive.changes.windows import Interval, Window, applies, merge, occurrences

EntryKind = Literal["change", "deployment"]


@dataclass(frozen=True)
class Entry:
    """One planned or running piece of work on the schedule."""

    kind: EntryKind
    ref: str  # CHG-12 or deployment 7
    title: str
    start: datetime
    end: datetime
    environment: str
    state: str
    components: frozenset[str] = frozenset()
    # Target name -> labels; None: every target of the environment.
    targets: Mapping[str, Mapping[str, str]] | None = None
    change_ref: str | None = None  # a deployment's change

    def clashes_with(self, other: Entry) -> bool:
        if self.environment != other.environment:
            return False
        if not (self.start < other.end and other.start < self.end):
            return False
        if self.kind != other.kind:
            change, deployment = (self, other) if self.kind == "change" else (other, self)
            if deployment.change_ref == change.ref:
                return False
        if self.targets is None or other.targets is None:
            return True
        return not set(self.targets).isdisjoint(other.targets)

    def label_sets(self) -> list[Mapping[str, str]]:
        if self.targets is None:
            return [{}]
        unique = {tuple(sorted(labels.items())): labels for labels in self.targets.values()}
        return list(unique.values()) or [{}]

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "ref": self.ref,
            "title": self.title,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "environment": self.environment,
            "state": self.state,
            "components": sorted(self.components),
            "targets": None if self.targets is None else sorted(self.targets),
            "change_ref": self.change_ref,
        }


@dataclass(frozen=True)
class Conflict:
    kind: Literal["overlap", "inside_deny_window", "outside_allow_windows"]
    refs: tuple[str, ...]
    message: str
    start: datetime
    end: datetime
    windows: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "refs": list(self.refs),
            "message": self.message,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "windows": list(self.windows),
        }


def conflicts(entries: Sequence[Entry], windows: Sequence[Window]) -> list[Conflict]:
    """Every clash among ``entries`` and between them and ``windows``, in time order."""
    found: list[Conflict] = []
    ordered = sorted(entries, key=lambda e: (e.start, e.ref))
    for index, first in enumerate(ordered):
        for second in ordered[index + 1 :]:
            if second.start >= first.end:
                break
            if first.clashes_with(second):
                shared = _shared_targets(first, second)
                found.append(
                    Conflict(
                        "overlap",
                        (first.ref, second.ref),
                        f"{first.ref} and {second.ref} overlap in {first.environment} on {shared}",
                        max(first.start, second.start),
                        min(first.end, second.end),
                    )
                )
    for entry in ordered:
        found.extend(_inside_deny(entry, windows))
        if entry.kind == "change":
            found.extend(_outside_allow(entry, windows))
    return sorted(found, key=lambda c: (c.start, c.refs))


def _shared_targets(first: Entry, second: Entry) -> str:
    if first.targets is None or second.targets is None:
        return "the whole environment"
    shared = sorted(set(first.targets) & set(second.targets))
    more = f" and {len(shared) - 5} more" if len(shared) > 5 else ""
    return "target(s) " + ", ".join(shared[:5]) + more


def _applicable(entry: Entry, windows: Sequence[Window], kind: str) -> list[Window]:
    return [
        window
        for window in windows
        if window.kind == kind
        and any(
            applies(window, entry.environment, labels, entry.components)
            for labels in entry.label_sets()
        )
    ]


def _inside_deny(entry: Entry, windows: Sequence[Window]) -> list[Conflict]:
    found = []
    for window in _applicable(entry, windows, "deny"):
        for period in occurrences(window, entry.start, entry.end):
            if period.start < entry.end and entry.start < period.end:
                found.append(
                    Conflict(
                        "inside_deny_window",
                        (entry.ref,),
                        f"{entry.ref} runs inside deny window {window.name} "
                        f"({period.start.isoformat()} to {period.end.isoformat()})",
                        max(entry.start, period.start),
                        min(entry.end, period.end),
                        (window.name,),
                    )
                )
                break
    return found


def _outside_allow(entry: Entry, windows: Sequence[Window]) -> list[Conflict]:
    allow = _applicable(entry, windows, "allow")
    if not allow:
        return []  # no maintenance windows in use here: nothing to be outside of
    periods: list[Interval] = merge(
        period for window in allow for period in occurrences(window, entry.start, entry.end)
    )
    if any(period.start <= entry.start and entry.end <= period.end for period in periods):
        return []
    names = tuple(sorted(window.name for window in allow))
    return [
        Conflict(
            "outside_allow_windows",
            (entry.ref,),
            f"{entry.ref} is planned {entry.start.isoformat()} to {entry.end.isoformat()}, "
            f"outside every allow window ({', '.join(names)})",
            entry.start,
            entry.end,
            names,
        )
    ]
