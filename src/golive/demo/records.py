"""Put the demo fleet in the records, once: environments, targets, the sample component and
its approved versions, and enrollment tokens for the agents that are not enrolled yet.

Every step looks first and creates only what is missing, so a second ``golive up`` on the
same data folder changes nothing. Targets are created before their agents enroll (the
protocol's adoption of an existing agent target), so plans can be made the moment the
server answers.
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from golive.agent.errors import AgentError
from golive.agent.state import StateFile
from golive.agents.models import AgentState
from golive.agents.schemas import EnrollmentTokenCreate
from golive.agents.service import create_enrollment_token
from golive.auth.roles import Role
from golive.auth.service import Actor
from golive.db import Database, utcnow
from golive.demo.layout import COMPONENT, ENVIRONMENTS, TARGETS, VERSIONS, DemoTarget, artifact
from golive.inventory.models import Component, ComponentKind, ConnectionKind, Environment, Target
from golive.inventory.schemas import ComponentCreate, EnvironmentCreate, TargetCreate
from golive.inventory.service import create_component, create_environment, create_target
from golive.media.models import VersionStatus
from golive.media.service import NewVersion, change_status, find_version, register_version
from golive.media.storage import BlobStore, open_blob_store
from golive.settings import Settings

log = logging.getLogger("golive.demo")
DEMO_ACTOR = Actor("demo:golive-up", frozenset({Role.ADMIN}))
ENROLLMENT_LIFETIME = timedelta(hours=1)


def demo_folder(settings: Settings) -> Path:
    """Where the demo agents' folders, logs and pid files are (absolute: it is in their
    command lines, which a later ``golive up`` from another folder must recognise)."""
    return (settings.home / "demo").absolute()


@dataclass(frozen=True)
class DemoAgent:
    """One agent to run: its target, its folder, and a token when it must enroll."""

    target: DemoTarget
    root: Path
    enroll_token: str | None


@dataclass
class Prepared:
    agents: list[DemoAgent] = field(default_factory=list)
    # What this run added, as (kind, name), for the console and the tests.
    created: list[tuple[str, str]] = field(default_factory=list)
    not_started: list[str] = field(default_factory=list)  # sentences: which agent, and why


def prepare(settings: Settings, server_url: str) -> Prepared:
    """Create what the demo fleet lacks and say which agents to run against ``server_url``."""
    prepared = Prepared()
    database = Database(settings.database_url)
    try:
        with database.writing() as session:
            _environments(session, prepared)
            _component(session, open_blob_store(settings), settings.uploads_dir, prepared)
            usable = _targets(session, prepared)
            _agents(session, usable, demo_folder(settings) / "agents", server_url, prepared)
    finally:
        database.dispose()
    return prepared


def _environments(session: Session, prepared: Prepared) -> None:
    existing = set(session.scalars(select(Environment.name)))
    for environment in ENVIRONMENTS:
        if environment.name in existing:
            continue
        spec = EnvironmentCreate(
            name=environment.name, description=environment.description, order=environment.order
        )
        create_environment(session, DEMO_ACTOR, spec)
        prepared.created.append(("environment", environment.name))


def _component(session: Session, blobs: BlobStore, uploads: Path, prepared: Prepared) -> None:
    if session.scalars(select(Component.id).where(Component.name == COMPONENT)).first() is None:
        spec = ComponentCreate(
            name=COMPONENT,
            kind=ComponentKind.SOFTWARE,
            description="The demo fleet's sample web shop",
            owner="Demo team",
        )
        create_component(session, DEMO_ACTOR, spec)
        prepared.created.append(("component", COMPONENT))
    for demo in VERSIONS:
        if find_version(session, COMPONENT, demo.version) is not None:
            continue  # left as it is, even if someone withdrew it
        data = artifact(demo)
        digest = hashlib.sha256(data).hexdigest()
        uploads.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=uploads, delete=False) as staged:
            staged.write(data)
        blobs.put_file(digest, Path(staged.name))  # moves the file into the store
        new = NewVersion(
            COMPONENT, demo.version, demo.filename, "application/gzip", demo.notes, None
        )
        register_version(session, DEMO_ACTOR, new, digest, len(data))
        change_status(
            session,
            DEMO_ACTOR,
            COMPONENT,
            demo.version,
            VersionStatus.APPROVED,
            "demo fleet sample, approved by golive up",
        )
        prepared.created.append(("approved version", f"{COMPONENT}@{demo.version}"))


def _targets(session: Session, prepared: Prepared) -> list[DemoTarget]:
    """Create the missing demo targets; return those an agent may enroll into."""
    found = {
        target.name: target
        for target in session.scalars(
            select(Target).where(Target.name.in_([t.name for t in TARGETS]))
        )
    }
    environments = {e.name: e for e in session.scalars(select(Environment))}
    usable = []
    for demo in TARGETS:
        target = found.get(demo.name)
        if target is None:
            spec = TargetCreate(
                name=demo.name,
                environment=demo.environment,
                labels=demo.labels,
                connection=ConnectionKind.AGENT,
                description="Demo fleet: a golive-agent started by golive up",
            )
            create_target(session, DEMO_ACTOR, spec)
            prepared.created.append(("target", demo.name))
        elif (
            target.connection != ConnectionKind.AGENT.value
            or target.environment_id != environments[demo.environment].id
        ):
            prepared.not_started.append(
                f"{demo.name}: a target of that name exists that is not a {demo.environment} "
                "agent target"
            )
            continue
        usable.append(demo)
    return usable


def _agents(
    session: Session, targets: list[DemoTarget], folder: Path, server_url: str, prepared: Prepared
) -> None:
    states = {
        name: state
        for name, state in session.execute(
            select(Target.name, AgentState)
            .join(AgentState, AgentState.target_id == Target.id)
            .where(Target.name.in_([t.name for t in targets]))
        )
    }
    tokens: dict[tuple[str, tuple[tuple[str, str], ...]], str] = {}
    for demo in targets:
        root = folder / demo.name
        state = states.get(demo.name)
        registered = state is not None and state.registered_at is not None
        enrolled_with = _enrolled_with(root)
        if enrolled_with is not None and not registered:
            # The folder holds a credential the records never issued (a new database, say):
            # start this agent afresh.
            log.info("demo agent %s: %s is stale; enrolling it again", demo.name, root)
            shutil.rmtree(root)
            enrolled_with = None
        if state is not None and state.revoked_at is not None and enrolled_with is not None:
            prepared.not_started.append(
                f"{demo.name}: its agent was revoked; delete {root} to enroll it again"
            )
            continue
        token = None
        if enrolled_with != server_url:
            group = (demo.environment, tuple(sorted(demo.labels.items())))
            if group not in tokens:
                spec = EnrollmentTokenCreate(
                    environment=demo.environment,
                    labels=demo.labels,
                    expires_at=utcnow() + ENROLLMENT_LIFETIME,
                )
                tokens[group] = create_enrollment_token(session, DEMO_ACTOR, spec)[1]
                prepared.created.append(
                    ("enrollment token", f"{demo.environment} site={demo.site}")
                )
            token = tokens[group]
        prepared.agents.append(DemoAgent(demo, root, token))


def _enrolled_with(root: Path) -> str | None:
    """The server URL the agent in ``root`` is enrolled with, or None (not enrolled)."""
    try:
        state = StateFile(root).load()
    except AgentError as error:
        log.warning("demo agent folder %s: %s; starting it afresh", root, error.message)
        shutil.rmtree(root)
        return None
    return state.server if state.is_enrolled else None
