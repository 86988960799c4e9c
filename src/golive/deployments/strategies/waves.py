"""Wave specs, durations and thresholds: parsing the options' text and sharing targets out.

``--waves 1,10%,50%,100%`` reads like Spinnaker's and Argo Rollouts' steps: each count or
percent is a *cumulative* total of the targets that label groups have not claimed, so the
example means one target, then up to 10 % of them, then up to 50 %, then the rest. A label
group (``role=canary``) is a wave of every target carrying that label, wherever it stands.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import timedelta
from math import ceil

from golive.deployments.strategies.model import (
    CountWave,
    LabelWave,
    PercentWave,
    StrategyName,
    StrategyParams,
    TargetRef,
    Threshold,
    WaveSpec,
    exact,
)
from golive.errors import InvalidInputError

_COUNT = re.compile(r"\d+")
_PERCENT = re.compile(r"(\d+(?:\.\d+)?)%")
_LABEL = re.compile(r"([^=\s]+)=([^=\s]+)")
_DURATION_PART = re.compile(r"(\d+)([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_waves(text: str) -> tuple[WaveSpec, ...]:
    """``"1,10%,role=canary,100%"`` as wave specs, checked with ``check_waves``.

    Raises:
        InvalidInputError: a part is not a count, a percent or a label group, or the
            parts break a rule of ``check_waves``.
    """
    if not text.strip():
        return ()
    specs: list[WaveSpec] = []
    for position, raw in enumerate(text.split(","), start=1):
        part = raw.strip()
        if _COUNT.fullmatch(part):
            specs.append(CountWave(int(part)))
        elif match := _PERCENT.fullmatch(part):
            specs.append(PercentWave(float(match.group(1))))
        elif match := _LABEL.fullmatch(part):
            specs.append(LabelWave(match.group(1), match.group(2)))
        else:
            raise InvalidInputError(
                f"wave {position} ({part!r}) is not a count (5), a percent (10%) "
                f"or a label group (role=canary)",
                details={"waves": text, "position": position},
            )
    specs_tuple = tuple(specs)
    check_waves(specs_tuple)
    return specs_tuple


def format_waves(specs: Sequence[WaveSpec]) -> str:
    """The ``--waves`` text of ``specs`` (the inverse of ``parse_waves``)."""
    return ",".join(str(spec) for spec in specs)


def check_waves(specs: Sequence[WaveSpec]) -> None:
    """Raise InvalidInputError unless counts increase, percents increase, nothing but a
    label group follows 100 % and no label group appears twice."""
    last_count: CountWave | None = None
    last_percent: PercentWave | None = None
    everything_at: int | None = None
    groups: set[LabelWave] = set()
    for position, spec in enumerate(specs, start=1):
        if isinstance(spec, LabelWave):
            if spec in groups:
                raise InvalidInputError(f"label group {spec} appears twice in the waves")
            groups.add(spec)
            continue
        if everything_at is not None:
            raise InvalidInputError(
                f"wave {position} ({spec}) follows 100% at wave {everything_at}, "
                f"which already takes every remaining target"
            )
        if isinstance(spec, CountWave):
            if last_count is not None and spec.count <= last_count.count:
                raise InvalidInputError(
                    f"wave counts are cumulative and must increase: {spec} comes after {last_count}"
                )
            last_count = spec
        else:
            if last_percent is not None and spec.percent <= last_percent.percent:
                raise InvalidInputError(
                    f"wave percents are cumulative and must increase: {spec} comes after "
                    f"{last_percent}"
                )
            last_percent = spec
            if spec.is_everything:
                everything_at = position


def with_everything(specs: Sequence[WaveSpec]) -> tuple[WaveSpec, ...]:
    """``specs`` with the implied final ``100%`` added when no ``100%`` is there."""
    if any(isinstance(spec, PercentWave) and spec.is_everything for spec in specs):
        return tuple(specs)
    return (*specs, PercentWave(100))


def share_out(targets: Sequence[TargetRef], specs: Sequence[WaveSpec]) -> list[list[str]]:
    """The target names of each spec's wave, in spec order (some may be empty).

    Label groups claim their targets first, in spec order (a target in two groups goes to
    the first). The rest, sorted by name, are cut by the cumulative counts and percents:
    a percent rounds up, and a wave that would get nothing while targets remain gets one.
    """
    ordered = sorted(targets, key=lambda target: target.name)
    claimed: dict[LabelWave, list[str]] = {}
    taken: set[str] = set()
    for spec in specs:
        if isinstance(spec, LabelWave):
            members = [t.name for t in ordered if t.name not in taken and spec.matches(t)]
            claimed[spec] = members
            taken.update(members)
    pool = [target.name for target in ordered if target.name not in taken]
    waves: list[list[str]] = []
    handed_out = 0
    for spec in specs:
        if isinstance(spec, LabelWave):
            waves.append(claimed[spec])
            continue
        if isinstance(spec, CountWave):
            cumulative = spec.count
        else:
            cumulative = ceil(exact(spec.percent) * len(pool) / 100)
        remaining = len(pool) - handed_out
        size = min(max(cumulative - handed_out, 1), remaining)
        waves.append(pool[handed_out : handed_out + size])
        handed_out += size
    return waves


def parse_duration(text: str, *, option: str = "duration") -> timedelta:
    """``"90s"``, ``"2m"``, ``"1h30m"``, ``"1d"`` or a bare number of seconds as a timedelta."""
    cleaned = text.strip().lower()
    if _COUNT.fullmatch(cleaned):
        return timedelta(seconds=int(cleaned))
    parts = _DURATION_PART.findall(cleaned)
    if not parts or "".join(number + unit for number, unit in parts) != cleaned:
        raise InvalidInputError(
            f"{option} must be a duration like 30s, 2m, 1h30m or 1d; got {text!r}"
        )
    return timedelta(seconds=sum(int(number) * _UNITS[unit] for number, unit in parts))


def format_duration(duration: timedelta) -> str:
    """``duration`` in the text ``parse_duration`` reads back: ``1h30m``, ``45s``, ``0s``."""
    seconds = int(duration.total_seconds())
    if seconds == 0:
        return "0s"
    pieces = []
    for unit, size in reversed(_UNITS.items()):
        amount, seconds = divmod(seconds, size)
        if amount:
            pieces.append(f"{amount}{unit}")
    return "".join(pieces)


def parse_threshold(text: str) -> Threshold:
    """``"3"`` (failures per wave) or ``"5%"`` (of each wave's targets) as a Threshold."""
    cleaned = text.strip()
    if _COUNT.fullmatch(cleaned):
        return Threshold(int(cleaned))
    if match := _PERCENT.fullmatch(cleaned):
        return Threshold(float(match.group(1)), percent=True)
    raise InvalidInputError(
        f"max failures must be a count (3) or a percent of each wave (5%); got {text!r}"
    )


def parse_params(
    strategy: str,
    *,
    waves: str = "",
    bake: str = "0s",
    max_failures: str = "0",
    confirm_waves: bool = False,
    all_or_nothing: bool = False,
    rollback_on_failure: bool = False,
    offline_timeout: str = "10m",
    offline_policy: str = "skip",
) -> StrategyParams:
    """StrategyParams from the text of ``golive deploy``'s options (or a stored record).

    Raises:
        InvalidInputError: any option is malformed or the combination is not allowed.
    """
    if strategy not in ("big_bang", "phased"):
        raise InvalidInputError(f"strategy must be big_bang or phased; got {strategy!r}")
    chosen: StrategyName = "big_bang" if strategy == "big_bang" else "phased"
    if offline_policy not in ("skip", "fail"):
        raise InvalidInputError(f"offline policy must be skip or fail; got {offline_policy!r}")
    return StrategyParams(
        strategy=chosen,
        waves=parse_waves(waves),
        bake=parse_duration(bake, option="bake"),
        max_failures=parse_threshold(max_failures),
        confirm_waves=confirm_waves,
        all_or_nothing=all_or_nothing,
        rollback_on_failure=rollback_on_failure,
        offline_timeout=parse_duration(offline_timeout, option="offline timeout"),
        offline_policy="skip" if offline_policy == "skip" else "fail",
    )


def params_as_dict(params: StrategyParams) -> dict[str, str | bool]:
    """``params`` as the option text ``parse_params(**...)`` reads back (for records, JSON)."""
    return {
        "strategy": params.strategy,
        "waves": format_waves(params.waves),
        "bake": format_duration(params.bake),
        "max_failures": str(params.max_failures),
        "confirm_waves": params.confirm_waves,
        "all_or_nothing": params.all_or_nothing,
        "rollback_on_failure": params.rollback_on_failure,
        "offline_timeout": format_duration(params.offline_timeout),
        "offline_policy": params.offline_policy,
    }
