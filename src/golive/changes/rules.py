"""Rules of change control, as data and pure functions (no database, no HTTP).

A change request moves draft -> submitted -> authorised -> implemented -> closed, or
ends rejected or cancelled. A change authority (per environment and change type)
says who may decide and how many approvals it takes; approvals expire; nobody
approves their own change. Standard changes are authorised by their model instead
of by people. Everything here is a function of the records handed in.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType

from golive.errors import ConflictError


class ChangeType(StrEnum):
    STANDARD = "standard"
    NORMAL = "normal"
    EMERGENCY = "emergency"


class ChangeState(StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    AUTHORISED = "authorised"
    IMPLEMENTED = "implemented"
    CLOSED = "closed"
    REJECTED = "rejected"
    CANCELLED = "cancelled"


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


class Decision(StrEnum):
    APPROVE = "approve"
    REJECT = "reject"


_S = ChangeState

# Which state may follow which. Authorisation and rejection are reached only through
# decisions (or a standard model); implementation only by doing the work.
TRANSITIONS: Mapping[ChangeState, frozenset[ChangeState]] = MappingProxyType(
    {
        _S.DRAFT: frozenset({_S.SUBMITTED, _S.CANCELLED}),
        _S.SUBMITTED: frozenset({_S.AUTHORISED, _S.REJECTED, _S.CANCELLED}),
        _S.AUTHORISED: frozenset({_S.IMPLEMENTED, _S.CANCELLED}),
        _S.IMPLEMENTED: frozenset({_S.CLOSED}),
        _S.CLOSED: frozenset(),
        _S.REJECTED: frozenset(),
        _S.CANCELLED: frozenset(),
    }
)

# Fields of a change that may be edited: only while it is a draft (what was decided on
# must stay what it was).
EDITABLE = frozenset({_S.DRAFT})


def next_states(state: ChangeState) -> list[ChangeState]:
    allowed = TRANSITIONS[state]
    return [candidate for candidate in ChangeState if candidate in allowed]


def check_transition(ref: str, current: ChangeState, wanted: ChangeState) -> None:
    """Raise ConflictError naming the allowed next states unless the move is legal."""
    if wanted in TRANSITIONS[current]:
        return
    allowed = next_states(current)
    named = ", ".join(state.value for state in allowed) or "none (it is finished)"
    raise ConflictError(
        f"change {ref} is {current.value}; it cannot become {wanted.value}. "
        f"Allowed next states: {named}.",
        details={
            "change": ref,
            "state": current.value,
            "requested": wanted.value,
            "allowed": [state.value for state in allowed],
        },
    )


@dataclass(frozen=True)
class Authority:
    """Who may decide changes of one type in one environment, and how many must agree."""

    name: str
    environment: str | None  # None: every environment without an authority of its own
    change_type: ChangeType
    roles: frozenset[str]
    principals: frozenset[str]
    quorum: int
    approval_valid_for: timedelta | None  # None: approvals do not expire

    def admits(self, principal: str, roles: Iterable[str]) -> bool:
        return principal in self.principals or bool(self.roles & set(roles))


# Used when nobody has configured an authority: one person holding change_authority
# (or admin).
DEFAULT_ROLES = frozenset({"change_authority", "admin"})


def default_authority(environment: str, change_type: ChangeType) -> Authority:
    return Authority(
        name=f"default ({change_type.value})",
        environment=environment,
        change_type=change_type,
        roles=DEFAULT_ROLES,
        principals=frozenset(),
        quorum=1,
        approval_valid_for=None,
    )


def authorities_for(
    configured: Sequence[Authority], environments: Iterable[str], change_type: ChangeType
) -> list[Authority]:
    """The authority for each affected environment: its own, else a catch-all, else the
    default. One authority covering several environments counts once."""
    chosen: dict[str, Authority] = {}
    for environment in sorted(set(environments)):
        own = [
            a for a in configured if a.change_type == change_type and a.environment == environment
        ]
        catch_all = [
            a for a in configured if a.change_type == change_type and a.environment is None
        ]
        found = (own or catch_all or [default_authority(environment, change_type)])[0]
        chosen.setdefault(found.name, found)
    return list(chosen.values())


@dataclass(frozen=True)
class Vote:
    """One recorded decision on a change."""

    principal: str
    decision: Decision
    decided_at: datetime
    expires_at: datetime | None
    roles: frozenset[str] = frozenset()  # what the person held when deciding
    reason: str = ""

    def valid_at(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


@dataclass(frozen=True)
class Tally:
    """Where a change's authorisation stands at one moment."""

    authorised: bool
    rejected_by: str | None
    missing: Mapping[str, int]  # authority name -> approvals still needed
    valid_until: datetime | None  # when the first counted approval runs out

    def describe(self) -> str:
        if self.rejected_by is not None:
            return f"rejected by {self.rejected_by}"
        if self.authorised:
            return "authorised"
        parts = [f"{count} more approval(s) from {name}" for name, count in self.missing.items()]
        return "needs " + "; ".join(parts)


def tally(authorities: Sequence[Authority], votes: Sequence[Vote], now: datetime) -> Tally:
    """Count valid approvals against every authority's quorum.

    The latest vote of each principal counts, judged by the roles held when it was
    cast; a rejection by anyone an authority admits rejects the change; expired
    approvals count for nothing.
    """
    latest: dict[str, Vote] = {}
    for vote in sorted(votes, key=lambda v: v.decided_at):
        latest[vote.principal] = vote
    for vote in latest.values():
        if vote.decision == Decision.REJECT and any(
            a.admits(vote.principal, vote.roles) for a in authorities
        ):
            return Tally(False, vote.principal, {}, None)
    missing: dict[str, int] = {}
    expiries: list[datetime] = []
    for authority in authorities:
        counted = [
            vote
            for vote in latest.values()
            if vote.decision == Decision.APPROVE
            and vote.valid_at(now)
            and authority.admits(vote.principal, vote.roles)
        ]
        if len(counted) < authority.quorum:
            missing[authority.name] = authority.quorum - len(counted)
            continue
        # The quorum holds until the quorum-th latest-expiring approval runs out.
        ends = sorted(
            (vote.expires_at for vote in counted if vote.expires_at is not None), reverse=True
        )
        unexpiring = sum(1 for vote in counted if vote.expires_at is None)
        if unexpiring < authority.quorum:
            expiries.append(ends[authority.quorum - unexpiring - 1])
    return Tally(not missing, None, missing, min(expiries) if expiries else None)


@dataclass(frozen=True)
class Scope:
    """What a change (or a standard model) covers."""

    environments: frozenset[str]
    components: frozenset[str]
    targets: frozenset[str]  # names; empty: any target the labels admit
    target_labels: Mapping[str, str]  # all must match; empty: any
    max_targets: int | None = None
    strategies: frozenset[str] = frozenset()  # empty: any


@dataclass(frozen=True)
class Work:
    """What a deployment would do, as the gate sees it."""

    environment: str
    components: frozenset[str]
    targets: Mapping[str, Mapping[str, str]]  # name -> labels
    strategy: str


def uncovered(scope: Scope, work: Work) -> list[str]:
    """Sentences naming what ``work`` does outside ``scope`` (empty: it is covered)."""
    problems: list[str] = []
    if work.environment not in scope.environments:
        problems.append(f"environment {work.environment} is not in its scope")
    outside = sorted(work.components - scope.components)
    if outside:
        problems.append(f"component(s) {', '.join(outside)} are not in its scope")
    strays = sorted(
        name
        for name, labels in work.targets.items()
        if (scope.targets and name not in scope.targets)
        or any(labels.get(key) != value for key, value in scope.target_labels.items())
    )
    if strays:
        shown = ", ".join(strays[:5]) + (f" and {len(strays) - 5} more" if len(strays) > 5 else "")
        problems.append(f"target(s) {shown} are not in its scope")
    if scope.max_targets is not None and len(work.targets) > scope.max_targets:
        problems.append(f"{len(work.targets)} targets exceed its limit of {scope.max_targets}")
    if scope.strategies and work.strategy not in scope.strategies:
        allowed = ", ".join(sorted(scope.strategies))
        problems.append(f"strategy {work.strategy} is not one of {allowed}")
    return problems
