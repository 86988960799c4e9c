"""Seeded random properties of plan() and next_actions() (hypothesis is not a dependency).

``simulate`` plays a deployment to its end against a fleet of make-believe agents: it
carries out each action as the engine would, moves running assignments on step by step
like agents reporting, and checks the strategy's promises at every step.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from math import ceil

import pytest

from golive.agents.rules import AssignmentState
from golive.deployments.strategies import (
    Complete,
    DeploymentProgress,
    Dispatch,
    FailTargets,
    Halt,
    LabelWave,
    Outcome,
    Paused,
    PercentWave,
    Plan,
    RollBack,
    Skip,
    StrategyParams,
    TargetRef,
    Threshold,
    WaitForConfirmation,
    WaitUntil,
    WaveFinished,
    initial_progress,
    next_actions,
    parse_params,
    plan,
)
from golive.deployments.strategies.model import exact
from golive.deployments.strategies.waves import format_waves

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
STEP = timedelta(seconds=1)
_S = AssignmentState
NOT_STARTED = {None, _S.PENDING}
ON_THE_WAY = [_S.DISPATCHED, _S.DOWNLOADING, _S.INSTALLING, _S.VERIFYING]
ROLES = ["canary", "web", "db", "cache"]

# What a target's agent does: succeed, fail, stay offline, or be offline for a while.
OK, FAIL, GONE, LATE = "ok", "fail", "gone", "late"


@dataclass
class Run:
    outcome: Outcome
    states: dict[str, AssignmentState | None]
    dispatched: Counter[str]
    rolled_back: Counter[str]
    halted: bool
    paused_answers: int = 0
    steps: int = 0


@dataclass
class World:
    """The engine's records, mutated as the engine would persist the actions."""

    states: dict[str, AssignmentState | None] = field(default_factory=dict)
    wave_started: dict[int, datetime] = field(default_factory=dict)
    wave_finished: dict[int, datetime] = field(default_factory=dict)
    confirmed: set[int] = field(default_factory=set)
    offline_since: dict[str, datetime] = field(default_factory=dict)
    rollbacks: dict[str, AssignmentState] = field(default_factory=dict)
    paused: bool = False

    def snapshot(self) -> DeploymentProgress:
        return DeploymentProgress(
            states=dict(self.states),
            wave_started=dict(self.wave_started),
            wave_finished=dict(self.wave_finished),
            paused=self.paused,
            confirmed=frozenset(self.confirmed),
            offline_since=dict(self.offline_since),
            rollbacks=dict(self.rollbacks),
        )


def simulate(
    made: Plan,
    fates: Mapping[str, str],
    rng: random.Random,
    *,
    pause_between: tuple[int, int] | None = None,
    max_steps: int = 20_000,
) -> Run:
    """Play ``made`` to Complete; agents move one state at a time with some randomness."""
    params = made.params
    world = World(offline_since=dict(initial_progress(made, T0).offline_since))
    back_at = {
        name: T0 + timedelta(minutes=rng.randint(1, 20))
        for name, fate in fates.items()
        if fate == LATE
    }
    now = T0
    dispatched: Counter[str] = Counter()
    rolled_back: Counter[str] = Counter()
    halted = False
    paused_answers = 0
    wave_of = {name: wave.index for wave in made.waves for name in wave.targets}
    for step in range(max_steps):
        if pause_between is not None:
            world.paused = pause_between[0] <= step < pause_between[1]
        for name, moment in back_at.items():
            if now >= moment:
                world.offline_since.pop(name, None)
        snapshot = world.snapshot()
        actions = next_actions(made, snapshot, now)
        assert next_actions(made, snapshot, now) == actions, "not idempotent"
        wake: datetime | None = None
        for action in actions:
            if isinstance(action, Dispatch):
                assert not world.paused
                earlier = [w for w in made.waves if w.index < action.wave_index]
                for wave in earlier:  # waves run in order
                    assert all(
                        snapshot.state_of(n)
                        in (_S.SUCCEEDED, _S.FAILED, _S.ROLLED_BACK, _S.SKIPPED)
                        for n in wave.targets
                    )
                if action.wave_index not in world.wave_started and earlier:
                    if params.bake:
                        assert (
                            now >= max(world.wave_finished[w.index] for w in earlier) + params.bake
                        )
                    if params.confirm_waves:
                        assert action.wave_index in world.confirmed
                world.wave_started.setdefault(action.wave_index, now)
                for name in action.targets:
                    assert world.states.get(name) in NOT_STARTED, f"{name} dispatched twice"
                    assert name not in world.offline_since
                    assert wave_of[name] == action.wave_index
                    world.states[name] = _S.DISPATCHED
                    dispatched[name] += 1
            elif isinstance(action, WaveFinished):
                assert action.wave_index not in world.wave_finished
                world.wave_finished[action.wave_index] = now
            elif isinstance(action, WaitUntil):
                assert action.moment > now
                wake = action.moment
            elif isinstance(action, WaitForConfirmation):
                world.confirmed.add(action.wave_index)  # a deployment_manager says yes
            elif isinstance(action, Skip | FailTargets):
                new = _S.SKIPPED if isinstance(action, Skip) else _S.FAILED
                for name in action.targets:
                    assert world.states.get(name) in {None, _S.PENDING, _S.DISPATCHED}
                    world.states[name] = new
            elif isinstance(action, RollBack):
                for name in action.targets:
                    assert world.states[name] == _S.SUCCEEDED
                    assert name not in world.rollbacks, f"{name} rolled back twice"
                    world.rollbacks[name] = _S.DISPATCHED
                    rolled_back[name] += 1
            elif isinstance(action, Halt):
                halted = True
            elif isinstance(action, Paused):
                assert world.paused
                paused_answers += 1
            else:
                assert isinstance(action, Complete)
                assert action is actions[-1]
                return Run(
                    action.outcome,
                    world.states,
                    dispatched,
                    rolled_back,
                    halted,
                    paused_answers,
                    step,
                )
        moved = _agents_report(world, fates, rng)
        only_waiting = all(isinstance(a, WaitUntil | Halt | Paused) for a in actions)
        if wake is not None and only_waiting and not moved:
            now = wake
        else:
            now += STEP
    raise AssertionError(f"no Complete after {max_steps} steps: {world}")


def _agents_report(world: World, fates: Mapping[str, str], rng: random.Random) -> bool:
    moved = False
    for name, state in sorted(world.states.items()):
        if state in ON_THE_WAY and rng.random() < 0.6:
            position = ON_THE_WAY.index(state)
            if position + 1 < len(ON_THE_WAY):
                world.states[name] = ON_THE_WAY[position + 1]
            elif fates[name] == FAIL:
                world.states[name] = rng.choice([_S.FAILED, _S.ROLLED_BACK])
            else:
                world.states[name] = _S.SUCCEEDED
            moved = True
    for name, state in sorted(world.rollbacks.items()):
        if state == _S.DISPATCHED and rng.random() < 0.6:
            world.rollbacks[name] = _S.SUCCEEDED
            moved = True
    return moved


def random_fleet(rng: random.Random, size: int) -> list[TargetRef]:
    names = rng.sample(range(10_000), size)
    return [
        TargetRef(
            f"t{number:05}",
            {"role": rng.choice(ROLES)} if rng.random() < 0.8 else {},
            online=True,
        )
        for number in names
    ]


def random_waves(rng: random.Random) -> str:
    specs: list[str] = []
    count, percent = 0, 0.0
    for _ in range(rng.randint(0, 5)):
        kind = rng.choice(["count", "percent", "label"])
        if kind == "count":
            count += rng.randint(1, 5)
            specs.append(str(count))
        elif kind == "percent" and percent < 99:
            percent = rng.choice([p for p in (1, 5, 10, 12.5, 25, 33, 50, 75, 99) if p > percent])
            specs.append(f"{percent:g}%")
        elif kind == "label":
            label = f"role={rng.choice(ROLES)}"
            if label not in specs:
                specs.append(label)
    if rng.random() < 0.5:
        specs.append("100%")
    return ",".join(specs)


def random_params(rng: random.Random, *, failures: bool) -> StrategyParams:
    if rng.random() < 0.25:
        return parse_params(
            "big_bang",
            max_failures=rng.choice(["0", "1", "20%"]) if failures else "0",
            all_or_nothing=failures and rng.random() < 0.5,
            rollback_on_failure=failures and rng.random() < 0.5,
            offline_timeout=rng.choice(["0s", "5m"]),
            offline_policy=rng.choice(["skip", "fail"]),
        )
    return parse_params(
        "phased",
        waves=random_waves(rng),
        bake=rng.choice(["0s", "30s", "2m"]),
        max_failures=rng.choice(["0", "1", "2", "10%", "50%"]) if failures else "0",
        confirm_waves=rng.random() < 0.3,
        all_or_nothing=failures and rng.random() < 0.2,
        rollback_on_failure=failures and rng.random() < 0.5,
        offline_timeout=rng.choice(["0s", "5m", "30m"]),
        offline_policy=rng.choice(["skip", "fail"]),
    )


@pytest.mark.parametrize("seed", range(200))
def test_every_target_is_in_exactly_one_wave(seed: int) -> None:
    rng = random.Random(seed)
    targets = random_fleet(rng, rng.randint(0, 60))
    params = random_params(rng, failures=False)
    shuffled = rng.sample(targets, len(targets))
    made = plan(shuffled, params)
    assert made == plan(targets, params), "plan depends on the input order"
    names = [name for wave in made.waves for name in wave.targets]
    assert sorted(names) == sorted(target.name for target in targets)
    assert len(names) == len(set(names))
    assert [wave.index for wave in made.waves] == list(range(1, len(made.waves) + 1))
    for wave in made.waves:
        assert wave.targets, "empty wave"
        assert list(wave.targets) == sorted(wave.targets)
    # Label groups: each group's wave holds exactly the unclaimed targets with the label.
    labelled = {target.name: target.labels.get("role") for target in targets}
    groups = [spec for spec in params.waves if isinstance(spec, LabelWave)]
    claimed: set[str] = set()
    for group in groups:
        members = {n for n in labelled if labelled[n] == group.value and n not in claimed}
        claimed |= members
        if members:
            assert any(set(wave.targets) == members for wave in made.waves), format_waves(
                params.waves
            )
    # Percents never hand out fewer targets than asked (ceil), cumulatively.
    pool = len(targets) - len(claimed)
    handed = 0
    pool_waves = [set(w.targets) for w in made.waves if not set(w.targets) & claimed]
    asks = [s for s in params.waves if not isinstance(s, LabelWave)]
    for spec, wave in zip(asks, pool_waves, strict=False):
        handed += len(wave)
        if isinstance(spec, PercentWave):
            assert handed >= min(ceil(exact(spec.percent) * pool / 100), pool)


@pytest.mark.parametrize("seed", range(200))
def test_all_successes_complete_with_every_target_dispatched_once(seed: int) -> None:
    rng = random.Random(seed)
    targets = random_fleet(rng, rng.randint(0, 40))
    made = plan(targets, random_params(rng, failures=False))
    run = simulate(made, dict.fromkeys((t.name for t in targets), OK), rng)
    assert run.outcome == "succeeded"
    assert not run.halted
    assert run.dispatched == Counter({t.name: 1 for t in targets})
    assert all(state == _S.SUCCEEDED for state in run.states.values())


@pytest.mark.parametrize("seed", range(200))
def test_failures_offline_and_pauses_end_as_the_rules_say(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(1, 40)
    fates = {
        t.name: rng.choices([OK, FAIL, GONE, LATE], weights=[80, 8, 6, 6])[0]
        for t in random_fleet(rng, size)
    }
    targets = [
        TargetRef(name, {"role": rng.choice(ROLES)}, online=fate not in (GONE, LATE))
        for name, fate in fates.items()
    ]
    params = random_params(rng, failures=True)
    made = plan(targets, params)
    pause = (rng.randint(0, 30), rng.randint(30, 90)) if rng.random() < 0.3 else None
    run = simulate(made, fates, rng, pause_between=pause)

    assert all(count == 1 for count in run.dispatched.values()), "a target was dispatched twice"
    assert all(count == 1 for count in run.rolled_back.values()), "a target was rolled back twice"
    assert all(fates[name] != GONE for name in run.dispatched), "an offline target was dispatched"
    failures = {_S.FAILED, _S.ROLLED_BACK}
    exceeded = any(
        sum(run.states.get(n) in failures for n in wave.targets)
        > params.max_failures.allowed(len(wave.targets))
        for wave in made.waves
    ) or (params.all_or_nothing and any(run.states.get(n) in failures for n in made.targets))
    assert run.halted == exceeded
    if not exceeded:
        assert run.outcome == "succeeded"
        assert all(
            run.states.get(n) is not None and run.states[n] is not None for n in made.targets
        )
        assert not run.rolled_back
    elif params.rollback_on_failure or params.all_or_nothing:
        assert run.outcome == "rolled_back"
        succeeded = {n for n, s in run.states.items() if s == _S.SUCCEEDED}
        assert set(run.rolled_back) == succeeded
    else:
        assert run.outcome == "failed"
        assert not run.rolled_back
    # Offline for good: skipped or failed by policy, never left hanging (unless halted first).
    for name, fate in fates.items():
        if fate == GONE and run.states.get(name) is not None:
            expected = _S.SKIPPED if params.offline_policy == "skip" else _S.FAILED
            assert run.states[name] == expected


def test_threshold_is_checked_by_the_simulation() -> None:
    # A guard on the guard: a fleet that must halt does halt in the simulation.
    params = StrategyParams("phased", max_failures=Threshold(0), rollback_on_failure=True)
    made = plan([TargetRef("a"), TargetRef("b")], params)
    run = simulate(made, {"a": FAIL, "b": OK}, random.Random(1))
    assert run.halted
    assert run.outcome == "rolled_back"
