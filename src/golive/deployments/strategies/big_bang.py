"""Big bang: every target in one wave, dispatched at once (DESIGN.md, "The four approaches").

With ``all_or_nothing`` any failure rolls every succeeded target back to its last
known-good version and the deployment ends ``rolled_back``. The step rules are the phased
strategy's (a big bang is a phased deployment of one wave with no gates between waves),
so ``next_actions`` lives in phased.py.
"""

from __future__ import annotations

from collections.abc import Sequence

from golive.deployments.strategies.model import Plan, StrategyParams, TargetRef, Wave


def plan_big_bang(targets: Sequence[TargetRef], params: StrategyParams) -> Plan:
    """One wave of every target, sorted by name (no wave for an empty fleet)."""
    names = tuple(sorted(target.name for target in targets))
    waves = (Wave(1, names),) if names else ()
    offline = frozenset(target.name for target in targets if not target.online)
    return Plan(waves=waves, params=params, offline=offline)
