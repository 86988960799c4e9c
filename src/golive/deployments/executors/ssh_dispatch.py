"""Carry out pending assignments of SSH targets from the server (agentless push).

Each round claims pending assignments of targets whose connection is ssh
(pending → dispatched in a write transaction, so two server processes never run
the same one), materialises the verified blob in a local file, runs the agent's
procedure over SSH (``ssh.run_ssh_job``) and records every state it passes
through, exactly as an agent's reports would.

A claim is a lease: the executor renews it while the job runs. An unfinished
assignment whose lease ran out was interrupted (the server or worker running it
stopped or died) and is claimed again and run from the start. The procedure is
made to be run again: a partial release is redone, a complete one is kept, and
``current`` only ever points at a complete release. States already recorded are
not recorded twice: the transition rules refuse a move back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import ColumnElement, and_, or_, select, update
from sqlalchemy.orm import Session, selectinload

from golive import audit
from golive.agents.models import Assignment
from golive.agents.rules import AssignmentState
from golive.agents.service import move_assignment
from golive.auth.roles import Role
from golive.auth.service import Actor
from golive.db import Database, iso, utcnow
from golive.deployments.executors.ssh import SshJob, SshResult, SshTarget, run_ssh_job
from golive.deployments.executors.ssh_endpoints import (
    client_key_path,
    ensure_client_key,
    get_endpoint,
)
from golive.errors import GoliveError
from golive.inventory.models import ConnectionKind, Target
from golive.media.storage import BlobStore

log = logging.getLogger("golive.ssh")
EXECUTOR = Actor("executor:ssh", frozenset({Role.AGENT}))


# States an assignment passes through while an executor carries it out.
IN_FLIGHT = [
    AssignmentState.DISPATCHED.value,
    AssignmentState.DOWNLOADING.value,
    AssignmentState.INSTALLING.value,
    AssignmentState.VERIFYING.value,
]


@dataclass(frozen=True)
class _Claimed:
    assignment_id: int
    target: SshTarget | None
    root: str
    problem: str | None = None


def _claimable(now: datetime) -> ColumnElement[bool]:
    """SSH assignments to claim: pending ones, and interrupted ones (lease run out)."""
    interrupted = and_(
        Assignment.state.in_(IN_FLIGHT),
        or_(Assignment.lease_until.is_(None), Assignment.lease_until < now),
    )
    return and_(
        Target.connection == ConnectionKind.SSH.value,
        or_(Assignment.state == AssignmentState.PENDING.value, interrupted),
    )


class SshDispatcher:
    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        keys_dir: Path,
        work_dir: Path,
        *,
        lease_seconds: float,
        concurrency: int = 8,
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.key = ensure_client_key(keys_dir)
        self.work_dir = work_dir
        self.concurrency = concurrency
        self.lease = timedelta(seconds=lease_seconds)

    def _anything_to_claim(self) -> bool:
        """A plain read, so an idle round takes no write lock."""
        with self.db.reading() as session:
            return (
                session.scalars(
                    select(Assignment.id)
                    .join(Target, Assignment.target_id == Target.id)
                    .where(_claimable(utcnow()))
                    .limit(1)
                ).first()
                is not None
            )

    def _claim(self, limit: int) -> list[_Claimed]:
        """Claim up to ``limit`` SSH assignments (pending ones move to dispatched) for a
        lease; describe each."""
        claimed: list[_Claimed] = []
        if not self._anything_to_claim():
            return claimed
        with self.db.writing() as session:
            now = utcnow()
            rows = session.scalars(
                select(Assignment)
                .join(Target, Assignment.target_id == Target.id)
                .options(
                    selectinload(Assignment.target),
                    selectinload(Assignment.version),
                    selectinload(Assignment.component),
                )
                .where(_claimable(now))
                .order_by(Assignment.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for assignment in rows:
                endpoint = get_endpoint(session, assignment.target_id)
                if assignment.state == AssignmentState.PENDING.value:
                    move_assignment(
                        session,
                        EXECUTOR,
                        assignment,
                        AssignmentState.DISPATCHED,
                        reason="claimed by the SSH executor",
                    )
                else:
                    _record_resumption(session, assignment)
                assignment.lease_until = now + self.lease
                if endpoint is None or not assignment.target.address:
                    claimed.append(
                        _Claimed(
                            assignment.id,
                            None,
                            "",
                            f"target {assignment.target.name} has no SSH settings or address; "
                            "set them with `golive targets ssh`",
                        )
                    )
                    continue
                claimed.append(
                    _Claimed(
                        assignment.id,
                        SshTarget(
                            address=assignment.target.address,
                            port=endpoint.port,
                            username=endpoint.username,
                            client_key=client_key_path(self.key.parent),
                            known_hosts=endpoint.known_hosts,
                        ),
                        endpoint.remote_root,
                    )
                )
        return claimed

    def _job(self, assignment_id: int, root: str, blob: Path | None) -> SshJob:
        with self.db.reading() as session:
            assignment = session.scalars(
                select(Assignment)
                .options(selectinload(Assignment.version), selectinload(Assignment.component))
                .where(Assignment.id == assignment_id)
            ).one()
            version = assignment.version
            return SshJob(
                assignment_id=assignment.id,
                action="remove" if assignment.action == "remove" else "install",
                component=assignment.component.name,
                version=version.version,
                digest=version.digest,
                filename=version.filename,
                blob_path=blob,
                hooks=dict(assignment.hooks),
                hook_timeout_seconds=assignment.hook_timeout_seconds,
                keep_releases=assignment.keep_releases,
                root=root,
            )

    def _record(
        self,
        assignment_id: int,
        state: AssignmentState,
        reason: str | None = None,
        output: str | None = None,
    ) -> None:
        with self.db.writing() as session:
            assignment = session.get(Assignment, assignment_id)
            if assignment is None or AssignmentState(assignment.state).is_terminal:
                return
            # Run again after an interruption, the job passes through states already
            # recorded: the same state is a no-op and an earlier one is refused by the
            # transition rules (``progress`` below lets that refusal go).
            move_assignment(session, EXECUTOR, assignment, state, reason=reason, output=output)
            if AssignmentState(assignment.state).is_terminal:
                assignment.lease_until = None

    def _renew(self, assignment_id: int) -> None:
        """Extend the lease of an assignment this executor is still running."""
        with self.db.writing() as session:
            session.execute(
                update(Assignment)
                .where(Assignment.id == assignment_id, Assignment.state.in_(IN_FLIGHT))
                .values(lease_until=utcnow() + self.lease)
                .execution_options(synchronize_session=False)
            )

    async def _keep_leased(self, assignment_id: int) -> None:
        """Renew the lease a few times per lease period, until cancelled."""
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            try:
                await asyncio.to_thread(self._renew, assignment_id)
            except Exception:  # a missed renewal is retried; the lease has slack
                log.exception("renewing the lease of assignment %s failed", assignment_id)

    def _materialise(self, digest: str, folder: Path) -> Path:
        """A local file with the blob's bytes, checked against its digest."""
        target = folder / digest
        local = self.blobs.local_path(digest)
        with (
            (
                local.open("rb")
                if local is not None and local.is_file()
                else self.blobs.open(digest)
            ) as source,
            target.open("wb") as sink,
        ):
            shutil.copyfileobj(source, sink, 1024 * 1024)
        check = hashlib.sha256()
        with target.open("rb") as handle:
            while chunk := handle.read(1024 * 1024):
                check.update(chunk)
        if check.hexdigest() != digest:
            raise GoliveError(
                f"the stored blob no longer matches sha256 {digest}; run `golive media verify`"
            )
        return target

    async def _run_one(self, assignment_id: int, target: SshTarget, root: str) -> None:
        folder = Path(tempfile.mkdtemp(prefix="ssh-job-", dir=self.work_dir))
        leased = asyncio.create_task(self._keep_leased(assignment_id))
        try:
            probe = await asyncio.to_thread(self._job, assignment_id, root, None)
            blob: Path | None = None
            if probe.action == "install":
                try:
                    blob = await asyncio.to_thread(self._materialise, probe.digest, folder)
                except GoliveError as exc:
                    await asyncio.to_thread(
                        self._record, assignment_id, AssignmentState.FAILED, exc.message
                    )
                    return
            job = await asyncio.to_thread(self._job, assignment_id, root, blob)

            def progress(state: str) -> None:
                with contextlib.suppress(GoliveError):
                    self._record(assignment_id, AssignmentState(state))

            result: SshResult = await run_ssh_job(target, job, progress)
            final = AssignmentState(result.state)
            await asyncio.to_thread(
                self._record, assignment_id, final, result.reason, result.output
            )
            log.info("ssh assignment %s on %s: %s", assignment_id, target.address, result.state)
        finally:
            leased.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await leased
            shutil.rmtree(folder, ignore_errors=True)

    async def run_once(self) -> int:
        """One round: claim, run (several at a time) and record. Returns how many ran."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        claimed = await asyncio.to_thread(self._claim, self.concurrency)
        runs = []
        for claim in claimed:
            if claim.target is None:
                await asyncio.to_thread(
                    self._record, claim.assignment_id, AssignmentState.FAILED, claim.problem
                )
                continue
            runs.append(self._run_one(claim.assignment_id, claim.target, claim.root))
        await asyncio.gather(*runs)
        return len(claimed)


def _record_resumption(session: Session, assignment: Assignment) -> None:
    ended = iso(assignment.lease_until) if assignment.lease_until is not None else "unknown"
    log.warning(
        "ssh assignment %s was interrupted in state %s (lease ended %s); running it again",
        assignment.id,
        assignment.state,
        ended,
    )
    audit.record(
        session,
        actor=EXECUTOR.name,
        action="assignment.resume",
        subject_type="assignment",
        subject_id=str(assignment.id),
        after={"state": assignment.state, "lease_ended": ended},
        reason="the executor running it stopped; the SSH executor runs it again",
    )


async def keep_dispatching(
    dispatcher: SshDispatcher, interval_seconds: float, stop: asyncio.Event
) -> None:
    """Run rounds until ``stop`` is set; a failing round is logged, never fatal."""
    while not stop.is_set():
        try:
            ran = await dispatcher.run_once()
        except Exception:
            log.exception("SSH dispatch round failed; trying again")
            ran = 0
        if ran:
            continue
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_seconds)
