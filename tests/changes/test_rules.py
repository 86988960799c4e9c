"""Change control rules as pure functions: transitions, tallies, scopes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from golive.changes.rules import (
    Authority,
    ChangeState,
    ChangeType,
    Decision,
    Scope,
    Vote,
    Work,
    authorities_for,
    check_transition,
    tally,
    uncovered,
)
from golive.errors import ConflictError

S = ChangeState
LEGAL = {
    (S.DRAFT, S.SUBMITTED),
    (S.DRAFT, S.CANCELLED),
    (S.SUBMITTED, S.AUTHORISED),
    (S.SUBMITTED, S.REJECTED),
    (S.SUBMITTED, S.CANCELLED),
    (S.AUTHORISED, S.IMPLEMENTED),
    (S.AUTHORISED, S.CANCELLED),
    (S.IMPLEMENTED, S.CLOSED),
}
PAIRS = [(a, b) for a in ChangeState for b in ChangeState]


@pytest.mark.parametrize(("current", "wanted"), PAIRS, ids=[f"{a}->{b}" for a, b in PAIRS])
def test_every_transition_is_legal_or_refused_with_the_allowed_states(
    current: ChangeState, wanted: ChangeState
) -> None:
    if (current, wanted) in LEGAL:
        check_transition("CHG-1", current, wanted)
        return
    with pytest.raises(ConflictError) as refused:
        check_transition("CHG-1", current, wanted)
    allowed = sorted(b.value for a, b in LEGAL if a == current)
    assert sorted(refused.value.details["allowed"]) == allowed
    assert f"is {current.value}" in str(refused.value)


NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
CAB = Authority(
    name="cab",
    environment="production",
    change_type=ChangeType.NORMAL,
    roles=frozenset({"change_authority"}),
    principals=frozenset({"olga"}),
    quorum=2,
    approval_valid_for=timedelta(hours=24),
)
ROLES = {
    "ann": ["change_authority"],
    "bob": ["change_authority"],
    "olga": ["deployer"],  # named in the authority, not by role
    "dan": ["deployer"],  # not in the authority at all
}


def vote(
    who: str, decision: str = "approve", hours_ago: float = 1, valid: float | None = 24
) -> Vote:
    decided = NOW - timedelta(hours=hours_ago)
    expires = decided + timedelta(hours=valid) if valid is not None else None
    return Vote(who, Decision(decision), decided, expires, frozenset(ROLES[who]))


TALLIES = [
    ("no votes", [], False, None, {"cab": 2}),
    ("one of two", [vote("ann")], False, None, {"cab": 1}),
    ("two of two", [vote("ann"), vote("bob")], True, None, {}),
    ("named principal counts", [vote("ann"), vote("olga")], True, None, {}),
    ("outsider does not count", [vote("ann"), vote("dan")], False, None, {"cab": 1}),
    (
        "same person twice counts once",
        [vote("ann", hours_ago=2), vote("ann")],
        False,
        None,
        {"cab": 1},
    ),
    (
        "expired approval counts for nothing",
        [vote("ann", hours_ago=30), vote("bob")],
        False,
        None,
        {"cab": 1},
    ),
    ("rejection by a member rejects", [vote("ann"), vote("bob", "reject")], False, "bob", {}),
    (
        "rejection by an outsider is ignored",
        [vote("ann"), vote("bob"), vote("dan", "reject")],
        True,
        None,
        {},
    ),
    (
        "a later approval replaces a rejection",
        [vote("bob", "reject", hours_ago=3), vote("bob"), vote("ann")],
        True,
        None,
        {},
    ),
]


@pytest.mark.parametrize(
    ("votes", "authorised", "rejected_by", "missing"),
    [case[1:] for case in TALLIES],
    ids=[case[0] for case in TALLIES],
)
def test_tally(
    votes: list[Vote], authorised: bool, rejected_by: str | None, missing: dict[str, int]
) -> None:
    result = tally([CAB], votes, NOW)
    assert result.authorised is authorised
    assert result.rejected_by == rejected_by
    assert dict(result.missing) == missing


def test_authorisation_lasts_until_the_quorum_would_break() -> None:
    # ann's approval runs out in 20 h, bob's in 23 h, olga's in 10 h: with a quorum of
    # two, the two latest-expiring approvals (bob, ann) hold it until ann's runs out.
    votes = [vote("ann", hours_ago=4), vote("bob", hours_ago=1), vote("olga", hours_ago=14)]
    result = tally([CAB], votes, NOW)
    assert result.authorised
    assert result.valid_until == NOW + timedelta(hours=20)
    unexpiring = [vote("ann", valid=None), vote("bob", valid=None)]
    assert tally([CAB], unexpiring, NOW).valid_until is None


def test_every_authority_must_agree() -> None:
    test_cab = Authority(
        "test-cab", "test", ChangeType.NORMAL, frozenset(), frozenset({"dan"}), 1, None
    )
    votes = [vote("ann"), vote("bob")]
    result = tally([CAB, test_cab], votes, NOW)
    assert not result.authorised
    assert dict(result.missing) == {"test-cab": 1}
    assert result.describe() == "needs 1 more approval(s) from test-cab"
    assert tally([CAB, test_cab], [*votes, vote("dan")], NOW).authorised


def test_authorities_per_environment_fall_back_to_catch_all_then_default() -> None:
    catch_all = Authority(
        "any-env", None, ChangeType.NORMAL, frozenset({"admin"}), frozenset(), 1, None
    )
    emergency = Authority(
        "ecab", None, ChangeType.EMERGENCY, frozenset({"admin"}), frozenset(), 1, None
    )
    assert [a.name for a in authorities_for([CAB], ["production"], ChangeType.NORMAL)] == ["cab"]
    chosen = authorities_for([CAB, catch_all], ["production", "test"], ChangeType.NORMAL)
    assert [a.name for a in chosen] == ["cab", "any-env"]
    chosen = authorities_for([CAB, emergency], ["production"], ChangeType.EMERGENCY)
    assert [a.name for a in chosen] == ["ecab"]
    default = authorities_for([CAB], ["test"], ChangeType.NORMAL)
    assert default[0].roles == frozenset({"change_authority", "admin"})
    assert default[0].quorum == 1


SCOPE = Scope(
    environments=frozenset({"production"}),
    components=frozenset({"shop", "api"}),
    targets=frozenset(),
    target_labels={"role": "web"},
    max_targets=3,
    strategies=frozenset({"phased"}),
)
WEB = {"role": "web"}
SCOPES = [
    ("inside", Work("production", frozenset({"shop"}), {"w1": WEB, "w2": WEB}, "phased"), []),
    (
        "other environment",
        Work("test", frozenset({"shop"}), {"w1": WEB}, "phased"),
        ["environment test is not in its scope"],
    ),
    (
        "other component",
        Work("production", frozenset({"shop", "db"}), {"w1": WEB}, "phased"),
        ["component(s) db are not in its scope"],
    ),
    (
        "label does not match",
        Work("production", frozenset({"shop"}), {"w1": WEB, "d1": {"role": "db"}}, "phased"),
        ["target(s) d1 are not in its scope"],
    ),
    (
        "too many targets",
        Work("production", frozenset({"shop"}), {f"w{i}": WEB for i in range(4)}, "phased"),
        ["4 targets exceed its limit of 3"],
    ),
    (
        "other strategy",
        Work("production", frozenset({"shop"}), {"w1": WEB}, "big_bang"),
        ["strategy big_bang is not one of phased"],
    ),
]


@pytest.mark.parametrize(
    ("work", "problems"), [case[1:] for case in SCOPES], ids=[case[0] for case in SCOPES]
)
def test_scope(work: Work, problems: list[str]) -> None:
    assert uncovered(SCOPE, work) == problems


def test_named_targets_scope() -> None:
    named = Scope(frozenset({"production"}), frozenset({"shop"}), frozenset({"w1"}), {})
    assert uncovered(named, Work("production", frozenset({"shop"}), {"w1": {}}, "phased")) == []
    assert uncovered(named, Work("production", frozenset({"shop"}), {"w2": {}}, "phased")) == [
        "target(s) w2 are not in its scope"
    ]
