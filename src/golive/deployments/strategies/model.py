"""The data of the strategies: targets, parameters, plans, progress snapshots and actions.

Everything here is a frozen dataclass with no I/O. The engine builds these from its
records, hands them to ``plan`` and ``next_actions`` (strategies/__init__.py) and persists
what comes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from fractions import Fraction
from math import floor
from typing import Literal, TypeAlias, get_args

from golive.agents.rules import AssignmentState
from golive.errors import InvalidInputError

StrategyName: TypeAlias = Literal["big_bang", "phased"]
OfflinePolicy: TypeAlias = Literal["skip", "fail"]
Outcome: TypeAlias = Literal["succeeded", "failed", "rolled_back", "aborted"]

STRATEGIES: tuple[str, ...] = get_args(StrategyName)
OFFLINE_POLICIES: tuple[str, ...] = get_args(OfflinePolicy)


def exact(number: float) -> Fraction:
    """``number`` as the exact fraction its shortest decimal spelling means (10.0 → 10, 0.1 → 1/10).

    Percent arithmetic on floats misrounds under ceil (30 * 10 / 100 is 3.0000000000000004).
    """
    return Fraction(str(number))


def _number(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else str(number)


@dataclass(frozen=True)
class TargetRef:
    """One target as the strategies see it: a name, its labels, whether its agent is reachable."""

    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    online: bool = True


@dataclass(frozen=True)
class Threshold:
    """How many targets of one wave may fail before the deployment halts.

    ``Threshold(2)`` allows two failures per wave; ``Threshold(5, percent=True)`` allows
    5 % of the wave's targets, rounded down (a wave of 10 at 5 % allows none).
    """

    value: float
    percent: bool = False

    def __post_init__(self) -> None:
        if self.value < 0:
            raise InvalidInputError(f"max failures cannot be negative; got {self}")
        if self.percent and self.value > 100:
            raise InvalidInputError(f"max failures cannot exceed 100%; got {self}")
        if not self.percent and not float(self.value).is_integer():
            raise InvalidInputError(f"max failures as a count must be whole; got {self.value}")

    def allowed(self, wave_size: int) -> int:
        """The number of failures a wave of ``wave_size`` targets tolerates."""
        if self.percent:
            return floor(exact(self.value) * wave_size / 100)
        return int(self.value)

    def __str__(self) -> str:
        return f"{_number(self.value)}%" if self.percent else _number(self.value)


@dataclass(frozen=True)
class CountWave:
    """A wave that brings the cumulative number of distributed targets up to ``count``."""

    count: int

    def __post_init__(self) -> None:
        if self.count < 1:
            raise InvalidInputError(f"a wave count must be at least 1; got {self.count}")

    def __str__(self) -> str:
        return str(self.count)


@dataclass(frozen=True)
class PercentWave:
    """A wave that brings the cumulative share of distributed targets up to ``percent``."""

    percent: float

    def __post_init__(self) -> None:
        if not 0 < self.percent <= 100:
            raise InvalidInputError(
                f"a wave percent must be above 0% and at most 100%; got {_number(self.percent)}%"
            )

    @property
    def is_everything(self) -> bool:
        return self.percent == 100

    def __str__(self) -> str:
        return f"{_number(self.percent)}%"


@dataclass(frozen=True)
class LabelWave:
    """A wave of every target whose label ``key`` equals ``value`` (e.g. ``role=canary``)."""

    key: str
    value: str

    def __post_init__(self) -> None:
        if not self.key.strip() or not self.value.strip():
            raise InvalidInputError(
                f"a label group needs a key and a value, like role=canary; got {self}"
            )

    def matches(self, target: TargetRef) -> bool:
        return target.labels.get(self.key) == self.value

    def __str__(self) -> str:
        return f"{self.key}={self.value}"


WaveSpec: TypeAlias = CountWave | PercentWave | LabelWave


@dataclass(frozen=True)
class StrategyParams:
    """How a deployment moves through its targets (the options of ``golive deploy``).

    Attributes:
        strategy: ``big_bang`` (one wave) or ``phased`` (``waves``).
        waves: the wave specs of a phased deployment; ``()`` means one wave of everything.
        bake: how long a finished wave is watched before the next one starts.
        max_failures: failures tolerated per wave before the deployment halts.
        confirm_waves: a person (deployment_manager) confirms every wave after the first.
        all_or_nothing: any failure rolls every succeeded target back.
        rollback_on_failure: a halt rolls every succeeded target back.
        offline_timeout: how long an offline target is waited for.
        offline_policy: what happens to it then: ``skip`` it or ``fail`` it.
    """

    strategy: StrategyName
    waves: tuple[WaveSpec, ...] = ()
    bake: timedelta = timedelta(0)
    max_failures: Threshold = Threshold(0)
    confirm_waves: bool = False
    all_or_nothing: bool = False
    rollback_on_failure: bool = False
    offline_timeout: timedelta = timedelta(minutes=10)
    offline_policy: OfflinePolicy = "skip"

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise InvalidInputError(
                f"strategy must be one of {', '.join(STRATEGIES)}; got {self.strategy!r}"
            )
        if self.offline_policy not in OFFLINE_POLICIES:
            raise InvalidInputError(
                f"offline policy must be one of {', '.join(OFFLINE_POLICIES)}; "
                f"got {self.offline_policy!r}"
            )
        if self.bake < timedelta(0):
            raise InvalidInputError("bake time cannot be negative")
        if self.offline_timeout < timedelta(0):
            raise InvalidInputError("offline timeout cannot be negative")
        if self.strategy == "big_bang":
            if self.waves not in ((), (PercentWave(100),)):
                raise InvalidInputError(
                    "big_bang deploys to every target in one wave; waves need the phased strategy"
                )
            if self.confirm_waves:
                raise InvalidInputError(
                    "big_bang has one wave, so there is nothing to confirm between waves; "
                    "confirm_waves needs the phased strategy"
                )
            if self.bake:
                raise InvalidInputError(
                    "big_bang has one wave, so there is no bake time between waves; "
                    "bake needs the phased strategy"
                )


@dataclass(frozen=True)
class Wave:
    """One wave of a plan: its 1-based ``index`` and its targets, sorted by name."""

    index: int
    targets: tuple[str, ...]


@dataclass(frozen=True)
class Plan:
    """The waves of a deployment and the parameters ``next_actions`` follows.

    Attributes:
        waves: non-empty waves, indexed 1, 2, …; every target is in exactly one.
        params: the strategy parameters the plan was made with.
        offline: targets whose agent was offline when the plan was made
            (``initial_progress`` starts their offline wait).
    """

    waves: tuple[Wave, ...]
    params: StrategyParams
    offline: frozenset[str] = frozenset()

    @property
    def targets(self) -> tuple[str, ...]:
        return tuple(name for wave in self.waves for name in wave.targets)

    def wave_of(self, target: str) -> int:
        """The index of the wave that holds ``target``."""
        for wave in self.waves:
            if target in wave.targets:
                return wave.index
        raise InvalidInputError(f"target {target} is not in this deployment's plan")


@dataclass(frozen=True)
class DeploymentProgress:
    """A snapshot of a deployment's records, the input of ``next_actions``.

    Attributes:
        states: each target's current assignment state; a target missing here, or mapped
            to None, has no assignment yet. The engine reports the latest assignment per
            target (after a retry, the fresh one).
        wave_started: when each wave's first targets were dispatched (by wave index).
        wave_finished: when each wave's last target reached a terminal state, as recorded
            by the engine on a ``WaveFinished`` action.
        paused: a person paused the deployment.
        aborted: a person aborted the deployment.
        confirmed: the wave indexes a person has confirmed (``confirm_waves``).
        offline_since: targets whose agent is offline, with when that was first seen.
        rollback_requested: a person asked to roll the deployment back.
        rollbacks: the state of each target's rollback to its last known-good version,
            for targets a ``RollBack`` was carried out on.
    """

    states: Mapping[str, AssignmentState | None] = field(default_factory=dict)
    wave_started: Mapping[int, datetime] = field(default_factory=dict)
    wave_finished: Mapping[int, datetime] = field(default_factory=dict)
    paused: bool = False
    aborted: bool = False
    confirmed: frozenset[int] = frozenset()
    offline_since: Mapping[str, datetime] = field(default_factory=dict)
    rollback_requested: bool = False
    rollbacks: Mapping[str, AssignmentState] = field(default_factory=dict)

    def state_of(self, target: str) -> AssignmentState | None:
        return self.states.get(target)


# Actions: what the engine should do next. Each is one kind of step; the engine carries
# them out idempotently and persists the result, then asks again.


@dataclass(frozen=True)
class Dispatch:
    """Create (or move from pending) and dispatch assignments for ``targets`` of a wave.

    The engine records ``wave_started[wave_index]`` if it is not recorded yet.
    """

    wave_index: int
    targets: tuple[str, ...]


@dataclass(frozen=True)
class WaveFinished:
    """Record ``wave_finished[wave_index] = now``: every target of the wave is terminal."""

    wave_index: int


@dataclass(frozen=True)
class WaitUntil:
    """Nothing changes before ``moment`` unless a record does; ask again then."""

    moment: datetime
    reason: str


@dataclass(frozen=True)
class WaitForConfirmation:
    """Wave ``wave_index`` may start once a person confirms it."""

    wave_index: int


@dataclass(frozen=True)
class Paused:
    """The deployment is paused: nothing new starts; running assignments continue."""

    reason: str = "the deployment is paused; resume it to continue"


@dataclass(frozen=True)
class Skip:
    """Mark these targets' assignments skipped (creating them if needed)."""

    targets: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class FailTargets:
    """Mark these targets' assignments failed (creating them if needed)."""

    targets: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class RollBack:
    """Put these succeeded targets back on their last known-good version."""

    targets: tuple[str, ...]
    reason: str


@dataclass(frozen=True)
class Halt:
    """A wave's failures exceeded the threshold: no further wave starts."""

    reason: str


@dataclass(frozen=True)
class Complete:
    """The deployment is over, with this outcome."""

    outcome: Outcome


Action: TypeAlias = (
    Dispatch
    | WaveFinished
    | WaitUntil
    | WaitForConfirmation
    | Paused
    | Skip
    | FailTargets
    | RollBack
    | Halt
    | Complete
)
