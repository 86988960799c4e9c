"""plan(): how targets are shared out into waves, for both strategies."""

from __future__ import annotations

from datetime import timedelta

import pytest

from golive.deployments.strategies import (
    PercentWave,
    StrategyParams,
    TargetRef,
    Wave,
    estimate,
    parse_params,
    plan,
)
from golive.errors import InvalidInputError


def fleet(spec: str) -> list[TargetRef]:
    """``"a b:role=canary c:role=db,zone=x d!"``: names, labels after ':', '!' = offline."""
    targets = []
    for word in spec.split():
        online = not word.endswith("!")
        name, _, labels = word.rstrip("!").partition(":")
        pairs = dict(pair.split("=") for pair in labels.split(",") if pair)
        targets.append(TargetRef(name, pairs, online))
    return targets


def numbered(count: int) -> list[TargetRef]:
    return [TargetRef(f"n{number:03}") for number in range(1, count + 1)]


@pytest.mark.parametrize(
    ("targets", "waves", "sizes"),
    [
        pytest.param(numbered(100), "1,10%,50%,100%", [1, 9, 40, 50], id="classic-100"),
        pytest.param(numbered(20), "1,10%,50%,100%", [1, 1, 8, 10], id="classic-20"),
        pytest.param(numbered(5), "1,10%,50%,100%", [1, 1, 1, 2], id="classic-5-at-least-one"),
        pytest.param(numbered(2), "1,10%,50%,100%", [1, 1], id="more-waves-than-targets"),
        pytest.param(numbered(1), "1,10%,50%,100%", [1], id="one-target"),
        pytest.param([], "1,10%,50%,100%", [], id="no-targets"),
        pytest.param(numbered(20), "1,10%,50%", [1, 1, 8, 10], id="100-implied"),
        pytest.param(numbered(10), "33%", [4, 6], id="percent-rounds-up"),
        pytest.param(numbered(30), "10%", [3, 27], id="percent-exact-no-float-error"),
        pytest.param(numbered(8), "12.5%", [1, 7], id="decimal-percent"),
        pytest.param(numbered(1000), "1%,10%,50%", [10, 90, 400, 500], id="bench-shape"),
        pytest.param(numbered(20), "1,5,10", [1, 4, 5, 10], id="counts-cumulative"),
        pytest.param(numbered(3), "2", [2, 1], id="count-then-rest"),
        pytest.param(numbered(3), "1,2,3,4,5", [1, 1, 1], id="counts-beyond-fleet"),
        pytest.param(numbered(10), "50%,3", [5, 1, 4], id="count-below-taken-still-one"),
        pytest.param(numbered(7), "", [7], id="no-waves-one-wave"),
        pytest.param(numbered(7), "100%", [7], id="just-100"),
    ],
)
def test_counts_and_percents(targets: list[TargetRef], waves: str, sizes: list[int]) -> None:
    made = plan(targets, parse_params("phased", waves=waves))
    assert [len(wave.targets) for wave in made.waves] == sizes
    assert [wave.index for wave in made.waves] == list(range(1, len(sizes) + 1))
    assert made.targets == tuple(sorted(target.name for target in targets))


@pytest.mark.parametrize(
    ("targets", "waves", "expected"),
    [
        pytest.param("c b a", "1", ["a", "b c"], id="sorted-by-name"),
        pytest.param(
            "a b:role=canary c d e:role=canary",
            "role=canary",
            ["b e", "a c d"],
            id="label-then-rest",
        ),
        pytest.param(
            "a b:role=canary c d e",
            "role=canary,50%",
            ["b", "a c", "d e"],
            id="label-then-percent-of-the-rest",
        ),
        pytest.param(
            "a b c:role=db d e:role=db",
            "1,role=db,100%",
            ["a", "c e", "b d"],
            id="label-in-the-middle",
        ),
        pytest.param(
            "a:role=canary,zone=x b:zone=x c",
            "role=canary,zone=x",
            ["a", "b", "c"],
            id="first-group-wins",
        ),
        pytest.param("a b c d", "role=nothing,50%", ["a b", "c d"], id="empty-group-dropped"),
        pytest.param("a:role=db b:role=db", "role=db,50%", ["a b"], id="groups-take-all"),
        pytest.param("a b:role=canary c", "100%,role=canary", ["a c", "b"], id="group-after-100"),
        pytest.param("a b:role=Canary", "role=canary", ["a b"], id="values-are-case-sensitive"),
    ],
)
def test_label_groups(targets: str, waves: str, expected: list[str]) -> None:
    made = plan(fleet(targets), parse_params("phased", waves=waves))
    assert made.waves == tuple(
        Wave(index, tuple(names.split())) for index, names in enumerate(expected, start=1)
    )


@pytest.mark.parametrize(
    ("targets", "expected"),
    [
        pytest.param("b c a", (Wave(1, ("a", "b", "c")),), id="all-at-once"),
        pytest.param("a:role=canary", (Wave(1, ("a",)),), id="labels-ignored"),
        pytest.param("", (), id="no-targets"),
    ],
)
def test_big_bang_is_one_wave(targets: str, expected: tuple[Wave, ...]) -> None:
    assert plan(fleet(targets), parse_params("big_bang")).waves == expected


@pytest.mark.parametrize("strategy", ["big_bang", "phased"])
def test_offline_targets_are_noted(strategy: str) -> None:
    made = plan(fleet("a b! c d!"), parse_params(strategy))
    assert made.offline == frozenset({"b", "d"})
    assert made.targets == ("a", "b", "c", "d")


@pytest.mark.parametrize(
    ("targets", "params", "message"),
    [
        pytest.param(
            fleet("a b a c b"),
            parse_params("phased"),
            "each target may appear once in a deployment; listed more than once: a, b",
            id="duplicates",
        ),
        pytest.param(fleet("a"), parse_params("big_bang"), None, id="fine"),
        pytest.param(
            [TargetRef("")], parse_params("phased"), "a target without a name", id="empty-name"
        ),
        pytest.param(
            fleet("a b"),
            StrategyParams("phased", waves=(PercentWave(50), PercentWave(10))),
            "wave percents are cumulative and must increase: 10% comes after 50%",
            id="specs-checked-when-built-directly",
        ),
    ],
)
def test_bad_plans(targets: list[TargetRef], params: StrategyParams, message: str | None) -> None:
    if message is None:
        plan(targets, params)
        return
    with pytest.raises(InvalidInputError, match=message):
        plan(targets, params)


def test_plan_does_not_depend_on_input_order() -> None:
    targets = fleet("e d:role=canary c b a:role=canary")
    params = parse_params("phased", waves="role=canary,1,50%")
    assert plan(targets, params) == plan(list(reversed(targets)), params)


@pytest.mark.parametrize(
    ("strategy", "waves", "bake", "count", "per_target", "minutes"),
    [
        pytest.param("phased", "1,10%,50%,100%", "2m", 100, 60, 4 * 1 + 3 * 2, id="four-waves"),
        pytest.param("phased", "1,10%,50%,100%", "0s", 100, 30, 4 * 0.5, id="no-bake"),
        pytest.param("phased", "1,10%,50%,100%", "5m", 2, 60, 2 * 1 + 1 * 5, id="waves-dropped"),
        pytest.param("phased", "50%", "10m", 1, 60, 1, id="one-wave-no-bake"),
        pytest.param("big_bang", "", "0s", 500, 90, 1.5, id="big-bang"),
        pytest.param("phased", "1", "1m", 0, 60, 0, id="nothing-to-do"),
    ],
)
def test_estimate(
    strategy: str, waves: str, bake: str, count: int, per_target: float, minutes: float
) -> None:
    made = plan(numbered(count), parse_params(strategy, waves=waves, bake=bake))
    assert estimate(made, per_target) == timedelta(minutes=minutes)


def test_estimate_refuses_negative_time() -> None:
    with pytest.raises(InvalidInputError, match="cannot be negative"):
        estimate(plan(numbered(1), parse_params("big_bang")), -1)
