"""Parsing the options of ``golive deploy``: waves, durations, thresholds, parameters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from golive.deployments.strategies import (
    CountWave,
    LabelWave,
    PercentWave,
    StrategyParams,
    Threshold,
    format_duration,
    format_waves,
    params_as_dict,
    parse_duration,
    parse_params,
    parse_threshold,
    parse_waves,
)
from golive.errors import InvalidInputError


@pytest.mark.parametrize(
    ("text", "specs"),
    [
        pytest.param("", (), id="empty"),
        pytest.param(
            "1,10%,50%,100%",
            (CountWave(1), PercentWave(10), PercentWave(50), PercentWave(100)),
            id="classic",
        ),
        pytest.param(" 1 , 10% ", (CountWave(1), PercentWave(10)), id="spaces"),
        pytest.param("12.5%", (PercentWave(12.5),), id="decimal-percent"),
        pytest.param("role=canary,25%", (LabelWave("role", "canary"), PercentWave(25)), id="label"),
        pytest.param("1,5,20", (CountWave(1), CountWave(5), CountWave(20)), id="counts"),
        pytest.param("10%,5", (PercentWave(10), CountWave(5)), id="mixed-kinds-each-increasing"),
        pytest.param(
            "100%,role=db", (PercentWave(100), LabelWave("role", "db")), id="label-after-100"
        ),
    ],
)
def test_parse_waves(text: str, specs: tuple[object, ...]) -> None:
    assert parse_waves(text) == specs
    assert parse_waves(format_waves(parse_waves(text))) == specs


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param(
            "10%,5%",
            "wave percents are cumulative and must increase: 5% comes after 10%",
            id="percent-decreasing",
        ),
        pytest.param(
            "50%,50%",
            "wave percents are cumulative and must increase: 50% comes after 50%",
            id="percent-repeated",
        ),
        pytest.param(
            "5,3",
            "wave counts are cumulative and must increase: 3 comes after 5",
            id="count-decreasing",
        ),
        pytest.param("0", "a wave count must be at least 1; got 0", id="zero-count"),
        pytest.param(
            "0%", "a wave percent must be above 0% and at most 100%; got 0%", id="zero-percent"
        ),
        pytest.param(
            "150%", "a wave percent must be above 0% and at most 100%; got 150%", id="over-100"
        ),
        pytest.param(
            "1,abc",
            "wave 2 ('abc') is not a count (5), a percent (10%) or a label group (role=canary)",
            id="garbage",
        ),
        pytest.param(
            "1,,2",
            "wave 2 ('') is not a count (5), a percent (10%) or a label group (role=canary)",
            id="empty-part",
        ),
        pytest.param(
            "role=",
            "wave 1 ('role=') is not a count (5), a percent (10%) or a label group (role=canary)",
            id="label-no-value",
        ),
        pytest.param(
            "-1",
            "wave 1 ('-1') is not a count (5), a percent (10%) or a label group (role=canary)",
            id="negative",
        ),
        pytest.param(
            "100%,5",
            "wave 2 (5) follows 100% at wave 1, which already takes every remaining target",
            id="after-100",
        ),
        pytest.param(
            "role=a,1,role=a", "label group role=a appears twice in the waves", id="label-twice"
        ),
    ],
)
def test_bad_waves_are_refused_with_a_sentence(text: str, message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_waves(text)
    assert refused.value.message == message


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        pytest.param("0", 0, id="zero"),
        pytest.param("90", 90, id="bare-seconds"),
        pytest.param("30s", 30, id="seconds"),
        pytest.param("2m", 120, id="minutes"),
        pytest.param("1h30m", 5400, id="combined"),
        pytest.param("1d", 86400, id="day"),
        pytest.param(" 2M ", 120, id="case-and-space"),
    ],
)
def test_parse_duration(text: str, seconds: int) -> None:
    duration = parse_duration(text)
    assert duration == timedelta(seconds=seconds)
    assert parse_duration(format_duration(duration)) == duration


@pytest.mark.parametrize("text", ["", "2x", "m", "1.5m", "2m3", "-1m", "2 m"])
def test_bad_duration(text: str) -> None:
    with pytest.raises(InvalidInputError, match="bake must be a duration like 30s, 2m, 1h30m"):
        parse_duration(text, option="bake")


@pytest.mark.parametrize(
    ("text", "wave_size", "allowed"),
    [
        pytest.param("0", 100, 0, id="none"),
        pytest.param("3", 2, 3, id="count"),
        pytest.param("5%", 10, 0, id="percent-rounds-down"),
        pytest.param("5%", 20, 1, id="percent-exact"),
        pytest.param("10%", 30, 3, id="percent-no-float-error"),
        pytest.param("50%", 3, 1, id="half-of-three"),
        pytest.param("100%", 7, 7, id="everything"),
        pytest.param("2.5%", 200, 5, id="decimal"),
    ],
)
def test_threshold(text: str, wave_size: int, allowed: int) -> None:
    threshold = parse_threshold(text)
    assert threshold.allowed(wave_size) == allowed
    assert str(threshold) == text


@pytest.mark.parametrize(
    ("build", "message"),
    [
        pytest.param(
            lambda: parse_threshold("x"),
            "max failures must be a count (3) or a percent",
            id="garbage",
        ),
        pytest.param(
            lambda: parse_threshold("101%"), "max failures cannot exceed 100%", id="over-100"
        ),
        pytest.param(lambda: Threshold(-1), "max failures cannot be negative", id="negative"),
        pytest.param(
            lambda: Threshold(1.5), "max failures as a count must be whole", id="fraction"
        ),
        pytest.param(
            lambda: parse_params("pull"),
            "strategy must be big_bang or phased; got 'pull'",
            id="strategy",
        ),
        pytest.param(
            lambda: StrategyParams("canary"),
            "strategy must be one of big_bang, phased",
            id="strategy-direct",
        ),
        pytest.param(
            lambda: parse_params("phased", offline_policy="wait"),
            "offline policy must be skip or fail",
            id="policy",
        ),
        pytest.param(
            lambda: StrategyParams("phased", offline_policy="ask"),
            "offline policy must be one of skip, fail",
            id="policy-direct",
        ),
        pytest.param(
            lambda: parse_params("big_bang", waves="1,100%"),
            "big_bang deploys to every target in one wave",
            id="big-bang-waves",
        ),
        pytest.param(
            lambda: parse_params("big_bang", confirm_waves=True),
            "confirm_waves needs the phased strategy",
            id="big-bang-confirm",
        ),
        pytest.param(
            lambda: parse_params("big_bang", bake="2m"),
            "bake needs the phased strategy",
            id="big-bang-bake",
        ),
        pytest.param(
            lambda: StrategyParams("phased", bake=timedelta(seconds=-1)),
            "bake time cannot be negative",
            id="negative-bake",
        ),
        pytest.param(
            lambda: StrategyParams("phased", offline_timeout=timedelta(seconds=-1)),
            "offline timeout cannot be negative",
            id="negative-timeout",
        ),
        pytest.param(
            lambda: parse_params("phased", offline_timeout="soon"),
            "offline timeout must be a duration",
            id="timeout-text",
        ),
    ],
)
def test_bad_parameters(build: object, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        build()


def test_big_bang_accepts_an_explicit_100_percent() -> None:
    assert parse_params("big_bang", waves="100%").waves == (PercentWave(100),)


def test_params_round_trip_through_their_text() -> None:
    params = parse_params(
        "phased",
        waves="role=canary,1,10%,50%,100%",
        bake="1h30m",
        max_failures="5%",
        confirm_waves=True,
        rollback_on_failure=True,
        offline_timeout="90s",
        offline_policy="fail",
    )
    shown = params_as_dict(params)
    assert shown == {
        "strategy": "phased",
        "waves": "role=canary,1,10%,50%,100%",
        "bake": "1h30m",
        "max_failures": "5%",
        "confirm_waves": True,
        "all_or_nothing": False,
        "rollback_on_failure": True,
        "offline_timeout": "1m30s",
        "offline_policy": "fail",
    }
    assert parse_params(**shown) == params
