"""The estate at a glance: for each component and environment, which versions run on how
many targets, and whether a deployment is under way, has failed, or the targets drift.

``cell_state`` is the rule (pure); ``overview`` reads the records it needs in a few
queries: what golive recorded as installed, what the agents last reported, and the latest
deployment of each component to each environment.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from golive.agents.models import AgentState, Installed
from golive.deployments.models import ACTIVE, Deployment, DeploymentState, DeploymentVersion
from golive.inventory.models import Component, Environment, Target

# The latest deployment's states that mean "this did not go well": halted is still active
# (a person decides what next), the others are final.
FAILED = frozenset({DeploymentState.HALTED, DeploymentState.FAILED, DeploymentState.ROLLED_BACK})
# How many recent deployments the overview looks through for each pair's latest.
RECENT_DEPLOYMENTS = 2000


@dataclass(frozen=True)
class Cell:
    """One component in one environment."""

    component: str
    environment: str
    targets: int  # targets in the environment
    versions: Mapping[str, int]  # version -> targets golive recorded it installed on
    state: str  # in_progress, failed, drift, current or absent
    flags: tuple[str, ...] = ()  # every state that applies, for the label
    notes: tuple[str, ...] = ()  # why: one sentence each
    deployment_id: int | None = None  # the latest deployment of the pair
    deployment_state: str | None = None

    @property
    def installed_on(self) -> int:
        return sum(self.versions.values())


@dataclass(frozen=True)
class Overview:
    environments: list[str]
    components: list[str]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)

    def cell(self, component: str, environment: str) -> Cell:
        return self.cells[(component, environment)]


def cell_state(
    *,
    versions: Mapping[str, int],
    latest_state: str | None,
    mismatched: Sequence[str],
    unauthorised: Sequence[str],
) -> tuple[str, tuple[str, ...], tuple[str, ...]]:
    """The state of one cell, every flag that applies, and a sentence for each.

    Args:
        versions: version -> number of targets golive recorded it installed on.
        latest_state: the state of the latest deployment of the pair, if any.
        mismatched: targets whose agent reports another version or digest than recorded.
        unauthorised: targets whose agent found a release golive never put there.
    """
    flags: list[str] = []
    notes: list[str] = []
    if latest_state is not None:
        state = DeploymentState(latest_state)
        if state in FAILED:
            flags.append("failed")
            notes.append(f"the latest deployment is {state.value}")
        elif state in ACTIVE:
            flags.append("in_progress")
            notes.append(f"a deployment is {state.value}")
    if len(versions) > 1:
        flags.append("drift")
        listed = ", ".join(f"{v} on {n}" for v, n in sorted(versions.items()))
        notes.append(f"targets run different versions ({listed})")
    if mismatched:
        if "drift" not in flags:
            flags.append("drift")
        notes.append(f"agents report other bytes than recorded on {', '.join(mismatched)}")
    if unauthorised:
        if "drift" not in flags:
            flags.append("drift")
        notes.append(f"unauthorised releases found on {', '.join(unauthorised)}")
    for primary in ("in_progress", "failed", "drift"):
        if primary in flags:
            return primary, tuple(flags), tuple(notes)
    return ("current" if versions else "absent"), tuple(flags), tuple(notes)


def overview(
    session: Session, *, environment: str | None = None, component: str | None = None
) -> Overview:
    """The matrix of components by environments (optionally one of each)."""
    env_query = select(Environment).order_by(Environment.position, Environment.name)
    if environment:
        env_query = env_query.where(Environment.name == environment)
    environments = list(session.scalars(env_query))
    comp_query = select(Component).order_by(Component.name)
    if component:
        comp_query = comp_query.where(Component.name == component)
    components = list(session.scalars(comp_query))
    env_ids = {e.id: e.name for e in environments}
    comp_ids = {c.id: c.name for c in components}

    target_counts: dict[int, int] = dict(
        session.execute(
            select(Target.environment_id, func.count(Target.id)).group_by(Target.environment_id)
        ).all()
    )
    versions: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
    recorded: dict[tuple[int, int], tuple[str, str]] = {}  # (target, component) -> version, digest
    target_env: dict[int, tuple[int, str]] = {}
    rows = session.execute(
        select(Installed, Target.environment_id, Target.name)
        .join(Target, Target.id == Installed.target_id)
        .options(selectinload(Installed.version))
        .where(Installed.component_id.in_(list(comp_ids)), Target.environment_id.in_(list(env_ids)))
    ).all()
    for installed, env_id, target_name in rows:
        versions[(installed.component_id, env_id)][installed.version.version] += 1
        recorded[(installed.target_id, installed.component_id)] = (
            installed.version.version,
            installed.digest,
        )
        target_env[installed.target_id] = (env_id, target_name)

    mismatched: dict[tuple[int, int], list[str]] = defaultdict(list)
    unauthorised: dict[tuple[int, int], list[str]] = defaultdict(list)
    comp_by_name = {name: cid for cid, name in comp_ids.items()}
    reports = session.execute(
        select(AgentState.target_id, AgentState.inventory, Target.environment_id, Target.name)
        .join(Target, Target.id == AgentState.target_id)
        .where(AgentState.inventory.is_not(None), Target.environment_id.in_(list(env_ids)))
    ).all()
    for target_id, inventory, env_id, target_name in reports:
        for entry in (inventory or {}).get("installed", []):
            cid = comp_by_name.get(str(entry.get("component")))
            mine = recorded.get((target_id, cid)) if cid is not None else None
            if cid is None or mine is None:
                continue
            if (str(entry.get("version")), str(entry.get("digest"))) != mine:
                mismatched[(cid, env_id)].append(target_name)
        for entry in (inventory or {}).get("unauthorised", []):
            cid = comp_by_name.get(str(entry.get("component")))
            if cid is not None:
                unauthorised[(cid, env_id)].append(target_name)

    latest: dict[tuple[int, int], tuple[int, str]] = {}
    recent = session.execute(
        select(
            Deployment.id,
            Deployment.state,
            Deployment.environment_id,
            DeploymentVersion.component_id,
        )
        .join(DeploymentVersion, DeploymentVersion.deployment_id == Deployment.id)
        .where(Deployment.environment_id.in_(list(env_ids)))
        .order_by(Deployment.id.desc())
        .limit(RECENT_DEPLOYMENTS)
    ).all()
    for deployment_id, state, env_id, cid in recent:
        latest.setdefault((cid, env_id), (deployment_id, state))

    result = Overview([e.name for e in environments], [c.name for c in components])
    for cid, cname in comp_ids.items():
        for eid, ename in env_ids.items():
            key = (cid, eid)
            found = latest.get(key)
            state, flags, notes = cell_state(
                versions=versions.get(key, Counter()),
                latest_state=found[1] if found else None,
                mismatched=sorted(mismatched.get(key, [])),
                unauthorised=sorted(unauthorised.get(key, [])),
            )
            result.cells[(cname, ename)] = Cell(
                component=cname,
                environment=ename,
                targets=target_counts.get(eid, 0),
                versions=dict(sorted(versions.get(key, Counter()).items())),
                state=state,
                flags=flags,
                notes=notes,
                deployment_id=found[0] if found else None,
                deployment_state=found[1] if found else None,
            )
    return result


def as_dict(found: Overview) -> dict[str, Any]:
    return {
        "environments": found.environments,
        "components": found.components,
        "cells": [
            {
                "component": c.component,
                "environment": c.environment,
                "targets": c.targets,
                "versions": dict(c.versions),
                "state": c.state,
                "flags": list(c.flags),
                "notes": list(c.notes),
                "deployment_id": c.deployment_id,
            }
            for c in found.cells.values()
        ],
    }
