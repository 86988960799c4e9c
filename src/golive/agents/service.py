"""Agent rules over the records: enrollment, credentials, assignments, what is installed.

Every function that changes a record writes its audit event in the caller's
transaction, and every change to a target's assignments moves the target's
desired-state generation on (the ETag of its agent's check-in) in the same one.

The deployment engine and other executors call ``create_assignment`` and
``move_assignment``; the agent endpoints call ``register_agent``, and apply the agents'
reports, inventories and hand-outs through ``batch`` (many agents per transaction).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    PublicFormat,
    load_pem_public_key,
)
from sqlalchemy import (
    CursorResult,
    Result,
    Table,
    bindparam,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.orm.attributes import set_committed_value

from golive import audit
from golive.agents.batch import Row, Writes
from golive.agents.models import (
    AgentCredential,
    AgentState,
    Assignment,
    AssignmentEvent,
    EnrollmentToken,
    Installed,
    InstallRecord,
)
from golive.agents.rules import (
    ACTIVE,
    HOOKS,
    AssignmentAction,
    AssignmentState,
)
from golive.agents.schemas import EnrollmentTokenCreate, Registration
from golive.auth.roles import Role
from golive.auth.service import Actor, hash_secret
from golive.db import UTCDateTime, iso, utcnow
from golive.errors import (
    AuthenticationError,
    ConflictError,
    GoliveError,
    InvalidInputError,
    NotFoundError,
)
from golive.inventory.models import ConnectionKind, Target
from golive.inventory.schemas import TargetCreate
from golive.inventory.service import (
    TARGET_DELETE_GUARDS,
    create_target,
    get_environment,
    get_target,
)
from golive.media.models import Version
from golive.media.service import IN_USE_RULES, require_deployable

ENROLLMENT_PREFIX = "gle_"
CREDENTIAL_PREFIX = "gla_"
POLL_INTERVAL_SECONDS = 30
DEFAULT_HOOK_TIMEOUT_SECONDS = 300
DEFAULT_KEEP_RELEASES = 3
MAX_HOOK_TIMEOUT_SECONDS = 24 * 3600
MAX_KEEP_RELEASES = 100


def agent_actor(target_name: str) -> Actor:
    """Who an agent is in the audit trail."""
    return Actor(f"agent:{target_name}", frozenset({Role.AGENT}))


def _new_secret(prefix: str) -> str:
    # 256 random bits: a plain sha256 of the secret cannot be brute-forced (as auth does).
    return prefix + secrets.token_urlsafe(32)


def _rows(result: Result[Any]) -> int:
    """How many rows an UPDATE changed."""
    return int(cast(CursorResult[Any], result).rowcount)


# --- enrollment tokens --------------------------------------------------------


def create_enrollment_token(
    session: Session, actor: Actor, spec: EnrollmentTokenCreate
) -> tuple[EnrollmentToken, str]:
    """A token agents enroll into ``spec.environment`` with; the secret is returned once."""
    environment = get_environment(session, spec.environment)
    if spec.expires_at is not None and spec.expires_at <= utcnow():
        raise InvalidInputError("an enrollment token's expiry must lie in the future")
    secret = _new_secret(ENROLLMENT_PREFIX)
    token = EnrollmentToken(
        prefix=secret[: len(ENROLLMENT_PREFIX) + 6],
        secret_hash=hash_secret(secret),
        environment=environment,
        labels=dict(spec.labels),
        organisation=spec.organisation,
        expires_at=spec.expires_at,
        created_by=actor.name,
        created_at=utcnow(),
    )
    session.add(token)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="enrollment_token.create",
        subject_type="enrollment_token",
        subject_id=str(token.id),
        after=token.as_dict(),
    )
    return token, secret


def get_enrollment_token(session: Session, token_id: int) -> EnrollmentToken:
    token = session.get(EnrollmentToken, token_id)
    if token is None:
        raise NotFoundError(
            f"enrollment token {token_id} not found", details={"enrollment_token": token_id}
        )
    return token


def revoke_enrollment_token(session: Session, actor: Actor, token_id: int) -> EnrollmentToken:
    """Stop a token enrolling more agents; revoking twice is a no-op."""
    token = get_enrollment_token(session, token_id)
    if token.revoked_at is not None:
        return token
    token.revoked_at = utcnow()
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="enrollment_token.revoke",
        subject_type="enrollment_token",
        subject_id=str(token.id),
        before={"revoked_at": None},
        after={"revoked_at": iso(token.revoked_at)},
    )
    return token


def authenticate_enrollment(session: Session, secret: str) -> int:
    """The id of the usable enrollment token behind ``secret`` (AuthenticationError if none)."""
    if not secret.startswith(ENROLLMENT_PREFIX):
        raise AuthenticationError("registration needs an enrollment token (gle_…)")
    token = session.scalars(
        select(EnrollmentToken).where(EnrollmentToken.secret_hash == hash_secret(secret))
    ).one_or_none()
    if token is None:
        raise AuthenticationError("the enrollment token is not valid")
    if token.revoked_at is not None:
        raise AuthenticationError("the enrollment token has been revoked")
    if token.expires_at is not None and token.expires_at <= utcnow():
        raise AuthenticationError("the enrollment token has expired; ask for a new one")
    return token.id


# --- registration and credentials ---------------------------------------------


def normalise_public_key(text: str) -> str:
    """The agent's ed25519 public key as canonical PEM (SubjectPublicKeyInfo)."""
    try:
        key = load_pem_public_key(text.encode())
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise InvalidInputError(
            "public_key is not a PEM public key (SubjectPublicKeyInfo)"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInputError("public_key must be an ed25519 key")
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()


def _fingerprint(pem: str) -> str:
    return hashlib.sha256(pem.encode()).hexdigest()


@dataclass(frozen=True)
class Registered:
    target: Target
    credential: str
    created: bool  # the target's first registration (201) rather than a repeat (200)


def _state_for(session: Session, target_id: int, *, lock: bool = False) -> AgentState:
    state = session.get(AgentState, target_id, with_for_update=lock or None)
    if state is None:
        state = AgentState(target_id=target_id, desired_generation=0, facts={}, updated_at=utcnow())
        session.add(state)
        session.flush()
    return state


def register_agent(session: Session, enrollment_id: int, spec: Registration) -> Registered:
    """Enroll the agent ``spec.name`` with a checked enrollment token; issue its credential.

    A new name becomes a target (connection ``agent``) with the token's environment,
    labels and organisation. The same name with the same key again gets a fresh
    credential and the previous one is revoked.

    Raises:
        ConflictError: the name exists with another public key, in another environment,
            reached otherwise than by an agent, or its agent was revoked after the token
            was created.
        InvalidInputError: the public key is not an ed25519 PEM key.
    """
    token = get_enrollment_token(session, enrollment_id)
    public_key = normalise_public_key(spec.public_key)
    actor = agent_actor(spec.name)
    target = session.scalars(
        select(Target).options(selectinload(Target.environment)).where(Target.name == spec.name)
    ).one_or_none()
    if target is None:
        target = create_target(
            session,
            actor,
            TargetCreate(
                name=spec.name,
                environment=token.environment.name,
                labels=dict(token.labels),
                connection=ConnectionKind.AGENT,
                organisation=token.organisation,
            ),
        )
    elif target.environment_id != token.environment_id:
        raise ConflictError(
            f"target {spec.name!r} is in environment {target.environment.name}; this "
            f"enrollment token is for {token.environment.name}",
            details={"target": spec.name, "environment": target.environment.name},
        )
    elif target.connection != ConnectionKind.AGENT.value:
        raise ConflictError(
            f"target {spec.name!r} is reached by {target.connection}, not by an agent",
            details={"target": spec.name, "connection": target.connection},
        )
    state = _state_for(session, target.id, lock=True)
    readmitted = False
    if state.revoked_at is not None:
        # A revoked agent comes back only with a token created after the revocation.
        if token.created_at <= state.revoked_at:
            raise ConflictError(
                f"target {spec.name!r}'s agent was revoked; enrolling it again needs an "
                "enrollment token created after the revocation",
                details={"target": spec.name, "revoked_at": iso(state.revoked_at)},
            )
        state.revoked_at = None
        readmitted = True
    active = list(
        session.scalars(
            select(AgentCredential).where(
                AgentCredential.target_id == target.id, AgentCredential.revoked_at.is_(None)
            )
        )
    )
    if any(credential.public_key != public_key for credential in active):
        raise ConflictError(
            f"target {spec.name!r} is registered with another public key; revoke its agent "
            "(golive targets revoke-agent) before enrolling a new one",
            details={"target": spec.name},
        )
    ever_registered = state.registered_at is not None
    now = utcnow()
    for credential in active:
        credential.revoked_at = now
    secret = _new_secret(CREDENTIAL_PREFIX)
    session.add(
        AgentCredential(
            target_id=target.id,
            prefix=secret[: len(CREDENTIAL_PREFIX) + 6],
            secret_hash=hash_secret(secret),
            public_key=public_key,
            enrollment_token_id=token.id,
            created_at=now,
        )
    )
    state.facts = dict(spec.facts)
    state.registered_at = now
    state.updated_at = now
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="agent.register",
        subject_type="target",
        subject_id=spec.name,
        after={
            "environment": token.environment.name,
            "enrollment_token": token.id,
            "public_key_sha256": _fingerprint(public_key),
            "facts": dict(spec.facts),
            "credentials_replaced": len(active),
            "readmitted": readmitted,
        },
    )
    return Registered(target=target, credential=secret, created=not ever_registered or readmitted)


def revoke_agent(session: Session, actor: Actor, target_name: str) -> dict[str, Any]:
    """Revoke the target's agent credentials; every later agent call is 401 target_revoked.

    Revoking twice is a no-op. The agent may enroll again only with an enrollment token
    created after this.
    """
    target = get_target(session, target_name)
    state = _state_for(session, target.id, lock=True)
    now = utcnow()
    revoked_now = _rows(
        session.execute(
            update(AgentCredential)
            .where(AgentCredential.target_id == target.id, AgentCredential.revoked_at.is_(None))
            .values(revoked_at=now)
            .execution_options(synchronize_session=False)
        )
    )
    if state.revoked_at is None:
        state.revoked_at = now
        state.updated_at = now
    elif not revoked_now:
        return _revocation(target_name, state, 0)
    session.flush()
    audit.record(
        session,
        actor=actor.name,
        action="agent.revoke",
        subject_type="target",
        subject_id=target_name,
        after={"revoked_at": iso(state.revoked_at), "credentials_revoked": revoked_now},
    )
    return _revocation(target_name, state, revoked_now)


def _revocation(target_name: str, state: AgentState, count: int) -> dict[str, Any]:
    return {
        "target": target_name,
        "revoked_at": iso(state.revoked_at),
        "credentials_revoked": count,
    }


_STATES = cast(Table, AgentState.__table__)
_ASSIGNMENTS = cast(Table, Assignment.__table__)


# --- assignments ----------------------------------------------------------------


# Every change to an assignment runs these: Core statements built once, not ORM bulk
# updates or unit-of-work inserts (which cost more to prepare than SQLite takes to run).
_ADD_EVENT = insert(cast(Table, AssignmentEvent.__table__))
_REPORTED = (
    update(_STATES)
    .where(_STATES.c.target_id == bindparam("reported_target"))
    .values(last_report_at=bindparam("reported_at", type_=UTCDateTime()))
)
_BUMP_GENERATION = (
    update(_STATES)
    .where(_STATES.c.target_id == bindparam("bumped_target"))
    .values(
        desired_generation=_STATES.c.desired_generation + 1,
        updated_at=bindparam("bumped_at", type_=UTCDateTime()),
    )
)


def bump_generation(session: Session, target_id: int) -> None:
    """Move the target's desired-state generation on (its agent's ETag changes)."""
    session.flush()  # what an ORM statement's autoflush did: the session's changes first
    moved = _rows(
        session.connection().execute(
            _BUMP_GENERATION, {"bumped_target": target_id, "bumped_at": utcnow()}
        )
    )
    if not moved:
        session.add(
            AgentState(target_id=target_id, desired_generation=1, facts={}, updated_at=utcnow())
        )
        session.flush()
    else:
        state = session.identity_map.get(session.identity_key(AgentState, (target_id,)))
        if state is not None:
            session.expire(state, ["desired_generation", "updated_at"])


def _check_hooks(hooks: dict[str, str] | None) -> dict[str, str]:
    given = dict(hooks or {})
    unknown = sorted(set(given) - set(HOOKS))
    if unknown:
        raise InvalidInputError(
            f"unknown hook(s) {', '.join(unknown)}; hooks are: {', '.join(HOOKS)}",
            details={"unknown": unknown},
        )
    for name, command in given.items():
        if not isinstance(command, str) or not command.strip() or len(command) > 4000:
            raise InvalidInputError(f"hook {name} must be a shell command of 1-4000 characters")
    return {name: given[name] for name in HOOKS if name in given}


def _active_for_components(
    session: Session, target_ids: Sequence[int], component_id: int
) -> dict[int, int]:
    """target id → its oldest unfinished assignment of the component, where it has one."""
    found: dict[int, int] = {}
    for chunk in _chunks(target_ids):
        rows = session.execute(
            select(Assignment.target_id, func.min(Assignment.id))
            .where(
                Assignment.target_id.in_(chunk),
                Assignment.component_id == component_id,
                Assignment.state.in_(sorted(state.value for state in ACTIVE)),
            )
            .group_by(Assignment.target_id)
        )
        found.update((target_id, first) for target_id, first in rows)
    return found


def _lock_agent_states(session: Session, target_ids: Sequence[int]) -> set[int]:
    """Lock the targets' agent-state rows (PostgreSQL), in id order; the ids that have one.

    Holding a target's row lock, no other writer can give it an assignment between
    looking for an active one and adding the new one.
    """
    locked: set[int] = set()
    for chunk in _chunks(sorted(set(target_ids))):
        locked.update(
            session.execute(
                select(_STATES.c.target_id)
                .where(_STATES.c.target_id.in_(chunk))
                .order_by(_STATES.c.target_id)
                .with_for_update()
            ).scalars()
        )
    return locked


def _chunks(ids: Sequence[int], size: int = 500) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _checked_request(
    action: AssignmentAction | str,
    hooks: dict[str, str] | None,
    hook_timeout_seconds: int,
    keep_releases: int,
) -> tuple[AssignmentAction, dict[str, str]]:
    try:
        wanted = AssignmentAction(action)
    except ValueError:
        raise InvalidInputError(f"action must be install or remove, not {action!r}") from None
    checked_hooks = _check_hooks(hooks)
    if not 1 <= hook_timeout_seconds <= MAX_HOOK_TIMEOUT_SECONDS:
        raise InvalidInputError(
            f"hook_timeout_seconds must be between 1 and {MAX_HOOK_TIMEOUT_SECONDS}"
        )
    if not 1 <= keep_releases <= MAX_KEEP_RELEASES:
        raise InvalidInputError(f"keep_releases must be between 1 and {MAX_KEEP_RELEASES}")
    return wanted, checked_hooks


def _already_active(target: Target, version: Version, active: int) -> ConflictError:
    return ConflictError(
        f"target {target.name} already has unfinished assignment {active} for component "
        f"{version.component.name}; wait for it to finish or fail first",
        details={"assignment_id": active, "target": target.name},
    )


def create_assignment(
    session: Session,
    actor: Actor,
    *,
    target: Target,
    version: Version,
    action: AssignmentAction | str = AssignmentAction.INSTALL,
    hooks: dict[str, str] | None = None,
    hook_timeout_seconds: int = DEFAULT_HOOK_TIMEOUT_SECONDS,
    keep_releases: int = DEFAULT_KEEP_RELEASES,
    deployment_id: int | None = None,
    reason: str | None = None,
) -> Assignment:
    """Give ``target`` the job of installing (or removing) ``version``; the engine's call.

    Raises:
        PolicyError: an install of a version the target's environment may not receive
            (media.service.require_deployable). Removing is always allowed: it is how a
            withdrawn version leaves a target.
        ConflictError: the target already has an unfinished assignment of the component
            (its id is named in the message and details).
        InvalidInputError: unknown hooks, or timeouts and release counts out of range.
    """
    [made] = create_assignments(
        session,
        actor,
        targets=[target],
        version=version,
        action=action,
        hooks=hooks,
        hook_timeout_seconds=hook_timeout_seconds,
        keep_releases=keep_releases,
        deployment_id=deployment_id,
        reason=reason,
    )
    if isinstance(made, GoliveError):
        raise made
    created = session.get(Assignment, made)
    if created is None:
        raise RuntimeError(f"assignment {made} vanished inside its own transaction")
    return created


def create_assignments(
    session: Session,
    actor: Actor,
    *,
    targets: Sequence[Target],
    version: Version,
    action: AssignmentAction | str = AssignmentAction.INSTALL,
    hooks: dict[str, str] | None = None,
    hook_timeout_seconds: int = DEFAULT_HOOK_TIMEOUT_SECONDS,
    keep_releases: int = DEFAULT_KEEP_RELEASES,
    deployment_id: int | None = None,
    reason: str | None = None,
) -> list[int | GoliveError]:
    """``create_assignment`` for many targets at once (a deployment's wave).

    The same rules, records and audit events as one call per target in ``targets``
    order, but with one statement per step for all of them instead of one per target.

    Returns:
        For each target, in order, its new assignment's id or the error
        ``create_assignment`` would have raised for it (nothing is written for a refused
        target). The rows are written with Core statements, not ORM objects: a wave of
        thousands is written while the write lock is held.
    """
    try:
        wanted, checked_hooks = _checked_request(action, hooks, hook_timeout_seconds, keep_releases)
    except GoliveError as refused:
        return [refused for _ in targets]
    results: list[int | GoliveError | None] = [None] * len(targets)
    undeployable: dict[int, GoliveError | None] = {}
    accepted: list[int] = []  # indexes into targets
    for index, target in enumerate(targets):
        if wanted is AssignmentAction.INSTALL:
            if target.environment_id not in undeployable:
                try:
                    require_deployable(session, version, target.environment)
                    undeployable[target.environment_id] = None
                except GoliveError as refused:
                    undeployable[target.environment_id] = refused
            problem = undeployable[target.environment_id]
            if problem is not None:
                results[index] = problem
                continue
        accepted.append(index)
    session.flush()
    ids = [targets[index].id for index in accepted]
    with_state = _lock_agent_states(session, ids)
    active = _active_for_components(session, ids, version.component_id)
    first_of: dict[int, int] = {}  # target id → index of its assignment in this call
    later: dict[int, int] = {}  # index of a repeated target → index of its first
    fresh: list[int] = []
    for index in accepted:
        target = targets[index]
        if target.id in active:
            results[index] = _already_active(target, version, active[target.id])
        elif target.id in first_of:
            later[index] = first_of[target.id]
        else:
            first_of[target.id] = index
            fresh.append(index)
    now = utcnow()
    component = version.component.name
    rows = [
        {
            "deployment_id": deployment_id,
            "target_id": targets[index].id,
            "component_id": version.component_id,
            "version_id": version.id,
            "action": wanted.value,
            "state": AssignmentState.PENDING.value,
            "hooks": dict(checked_hooks),
            "hook_timeout_seconds": hook_timeout_seconds,
            "keep_releases": keep_releases,
            "reason": reason,
            "output": None,
            "created_by": actor.name,
            "created_at": now,
            "updated_at": now,
            "finished_at": None,
        }
        for index in fresh
    ]
    made: dict[int, int] = {}  # index into targets → the new assignment's id
    if rows:
        session.flush()
        inserted = session.connection().execute(
            insert(_ASSIGNMENTS).returning(_ASSIGNMENTS.c.id, sort_by_parameter_order=True),
            rows,
        )
        made = dict(zip(fresh, (int(number) for number in inserted.scalars()), strict=True))
        session.connection().execute(
            _ADD_EVENT,
            [
                {
                    "assignment_id": number,
                    "from_state": None,
                    "state": AssignmentState.PENDING.value,
                    "actor": actor.name,
                    "reason": reason,
                    "output": None,
                    "reported_at": None,
                    "recorded_at": now,
                }
                for number in made.values()
            ],
        )
    stamp = now.isoformat()
    audit.record_many(
        session,
        [
            audit.Entry(
                actor=actor.name,
                action="assignment.create",
                subject_type="assignment",
                subject_id=str(number),
                # Assignment.as_dict of the new row.
                after={
                    "id": number,
                    "deployment_id": deployment_id,
                    "target": targets[index].name,
                    "component": component,
                    "version": version.version,
                    "digest": version.digest,
                    "action": wanted.value,
                    "state": AssignmentState.PENDING.value,
                    "hooks": dict(checked_hooks),
                    "hook_timeout_seconds": hook_timeout_seconds,
                    "keep_releases": keep_releases,
                    "reason": reason,
                    "created_by": actor.name,
                    "created_at": stamp,
                    "updated_at": stamp,
                    "finished_at": None,
                },
                reason=reason,
            )
            for index, number in made.items()
        ],
    )
    for index, number in made.items():
        results[index] = number
    for index, first in later.items():
        results[index] = _already_active(targets[index], version, made[first])
    if fresh:
        # Last, just before the caller commits: waiting check-ins find the targets that
        # changed by this stamp (agents/waiting.py), and a wave of thousands takes a while
        # to write. The rows were locked first (PostgreSQL) all the same.
        _bump_generations(session, [targets[i].id for i in fresh], with_state)
    return [result for result in results if result is not None]


def _bump_generations(session: Session, target_ids: Sequence[int], with_state: set[int]) -> None:
    """``bump_generation`` for many targets, whose agent-state rows are ``with_state``."""
    now = utcnow()
    present = [{"bumped_target": i, "bumped_at": now} for i in target_ids if i in with_state]
    if present:
        session.connection().execute(_BUMP_GENERATION, present)
    for target_id in target_ids:
        if target_id not in with_state:
            session.add(
                AgentState(target_id=target_id, desired_generation=1, facts={}, updated_at=now)
            )
            continue
        state = session.identity_map.get(session.identity_key(AgentState, (target_id,)))
        if state is not None:
            session.expire(state, ["desired_generation", "updated_at"])
    session.flush()


def move_assignment(
    session: Session,
    actor: Actor,
    assignment: Assignment,
    wanted: AssignmentState,
    *,
    reason: str | None = None,
    output: str | None = None,
    reported_at: datetime | None = None,
    by_agent: bool = False,
) -> bool:
    """Move an assignment to ``wanted`` and record it (event, outcome, generation, audit).

    Agents may make the moves of ``rules.REPORT_TRANSITIONS``; the server (the engine,
    other executors) those of ``rules.SERVER_TRANSITIONS``. On ``succeeded`` an install
    is recorded as installed on the target and a remove deletes that record; a terminal
    outcome is added to the target's install history.

    Returns:
        False when the assignment already is in ``wanted`` (nothing written).

    Raises:
        ConflictError: the move is not allowed (for instance out of a terminal state).
    """
    version = assignment.version
    row = Row(
        assignment.id,
        assignment.target_id,
        assignment.target.name,
        assignment.component_id,
        assignment.component.name,
        assignment.version_id,
        version.version,
        version.digest,
        assignment.action,
        assignment.deployment_id,
        assignment.state,
    )
    # The same rows as an agent's report in a batch (batch.Writes), for one assignment.
    writes = Writes()
    moved = writes.move(
        actor.name,
        row,
        wanted,
        by_agent=by_agent,
        reason=reason,
        output=output,
        reported_at=reported_at,
    )
    if not moved:
        return False
    writes.generations.clear()  # bump_generation below, which also makes a missing row
    session.flush()
    writes.write(session)
    bump_generation(session, assignment.target_id)
    # The object in step with the row written for it, without another write of it.
    [written] = writes.moves.values()
    set_committed_value(assignment, "state", written["b_state"])
    set_committed_value(assignment, "updated_at", written["b_now"])
    if written["b_finished"] is not None:
        set_committed_value(assignment, "finished_at", written["b_finished"])
    if written["b_reason"] is not None:
        set_committed_value(assignment, "reason", written["b_reason"])
    if written["b_output"] is not None:
        set_committed_value(assignment, "output", written["b_output"])
    return True


def get_assignment(session: Session, assignment_id: int) -> Assignment:
    found = session.scalars(
        select(Assignment)
        .options(
            selectinload(Assignment.target),
            selectinload(Assignment.component),
            selectinload(Assignment.version).selectinload(Version.component),
            selectinload(Assignment.events),
        )
        .where(Assignment.id == assignment_id)
    ).one_or_none()
    if found is None:
        raise NotFoundError(
            f"assignment {assignment_id} not found", details={"assignment_id": assignment_id}
        )
    return found


def list_assignments(
    session: Session,
    *,
    target: str | None = None,
    state: AssignmentState | None = None,
    deployment_id: int | None = None,
    limit: int,
    offset: int,
) -> list[Assignment]:
    """Assignments, newest first, by target, state and deployment."""
    query = (
        select(Assignment)
        .options(
            selectinload(Assignment.target),
            selectinload(Assignment.component),
            selectinload(Assignment.version).selectinload(Version.component),
        )
        .order_by(Assignment.id.desc())
    )
    if target is not None:
        query = query.where(Assignment.target_id == get_target(session, target).id)
    if state is not None:
        query = query.where(Assignment.state == state.value)
    if deployment_id is not None:
        query = query.where(Assignment.deployment_id == deployment_id)
    return list(session.scalars(query.limit(limit).offset(offset)))


# --- reports and inventory ------------------------------------------------------


# --- what is installed where ----------------------------------------------------


def installed_on(session: Session, target_name: str) -> dict[str, Any]:
    """What golive recorded as installed on a target, against what its agent reported."""
    target = get_target(session, target_name)
    records = session.scalars(
        select(Installed)
        .options(
            selectinload(Installed.target),
            selectinload(Installed.component),
            selectinload(Installed.version),
        )
        .where(Installed.target_id == target.id)
    ).all()
    state = session.get(AgentState, target.id)
    inventory = state.inventory if state is not None else None
    reported = {str(entry["component"]): entry for entry in (inventory or {}).get("installed", [])}
    items: list[dict[str, Any]] = []
    for record in sorted(records, key=lambda r: r.component.name):
        shown = record.as_dict()
        seen = reported.pop(record.component.name, None)
        shown["reported"] = seen
        shown["matches"] = (
            None
            if inventory is None
            else seen is not None
            and seen.get("digest") == record.digest
            and seen.get("version") == record.version.version
        )
        items.append(shown)
    unauthorised = list((inventory or {}).get("unauthorised", []))
    active = session.scalar(
        select(func.count(AgentCredential.id)).where(
            AgentCredential.target_id == target.id, AgentCredential.revoked_at.is_(None)
        )
    )
    return {
        "target": target.name,
        "environment": target.environment.name,
        "installed": items,
        "unrecorded": sorted(reported.values(), key=lambda entry: str(entry["component"])),
        "unauthorised": unauthorised,
        "has_unauthorised": bool(unauthorised),
        "inventory_digest": state.inventory_digest if state is not None else None,
        "agent": {
            "enrolled": bool(active),
            "registered_at": iso(state.registered_at) if state is not None else None,
            "revoked_at": iso(state.revoked_at) if state is not None else None,
            "last_report_at": iso(state.last_report_at) if state is not None else None,
            "facts": dict(state.facts) if state is not None else {},
        },
    }


def install_history(
    session: Session, target_name: str, *, limit: int = 100, offset: int = 0
) -> list[InstallRecord]:
    """What was installed, removed, failed or rolled back on a target, newest first."""
    target = get_target(session, target_name)
    return list(
        session.scalars(
            select(InstallRecord)
            .options(
                selectinload(InstallRecord.target),
                selectinload(InstallRecord.component),
                selectinload(InstallRecord.version),
            )
            .where(InstallRecord.target_id == target.id)
            .order_by(InstallRecord.id.desc())
            .limit(limit)
            .offset(offset)
        )
    )


# --- rules other rooms consult --------------------------------------------------


def _version_in_use(session: Session, version: Version) -> str | None:
    where_installed = session.scalars(
        select(Target.name)
        .join(Installed, Installed.target_id == Target.id)
        .where(Installed.version_id == version.id)
        .order_by(Target.name)
        .limit(4)
    ).all()
    unfinished = session.scalars(
        select(Assignment.id)
        .where(Assignment.version_id == version.id, Assignment.state.in_(list(ACTIVE)))
        .order_by(Assignment.id)
        .limit(4)
    ).all()
    reasons = []
    if where_installed:
        more = " and others" if len(where_installed) > 3 else ""
        reasons.append(f"installed on {', '.join(where_installed[:3])}{more}")
    if unfinished:
        more = " and others" if len(unfinished) > 3 else ""
        ids = ", ".join(str(i) for i in unfinished[:3])
        reasons.append(f"needed by unfinished assignment(s) {ids}{more}")
    return "; ".join(reasons) or None


def _unfinished_assignments_block_delete(session: Session, target_id: int) -> str | None:
    unfinished = session.scalars(
        select(Assignment.id)
        .where(Assignment.target_id == target_id, Assignment.state.in_(list(ACTIVE)))
        .order_by(Assignment.id)
    ).all()
    if not unfinished:
        return None
    ids = ", ".join(str(i) for i in unfinished)
    return (
        f"the target has {len(unfinished)} unfinished assignment(s) ({ids}); "
        "let them finish or fail first"
    )


IN_USE_RULES.append(_version_in_use)
TARGET_DELETE_GUARDS.append(_unfinished_assignments_block_delete)
