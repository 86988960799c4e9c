"""Carry out pending assignments of SSH targets from the server (agentless push).

Each round claims pending assignments of targets whose connection is ssh
(pending → dispatched in a write transaction, so two server processes never run
the same one), materialises the verified blob in a local file, runs the agent's
procedure over SSH (``ssh.run_ssh_job``) and records every state it passes
through, exactly as an agent's reports would.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from golive.agents.models import Assignment
from golive.agents.rules import AssignmentState
from golive.agents.service import move_assignment
from golive.auth.roles import Role
from golive.auth.service import Actor
from golive.db import Database
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


@dataclass(frozen=True)
class _Claimed:
    assignment_id: int
    target: SshTarget | None
    root: str
    problem: str | None = None


class SshDispatcher:
    def __init__(
        self, db: Database, blobs: BlobStore, keys_dir: Path, work_dir: Path, concurrency: int = 8
    ) -> None:
        self.db = db
        self.blobs = blobs
        self.key = ensure_client_key(keys_dir)
        self.work_dir = work_dir
        self.concurrency = concurrency

    def _anything_pending(self) -> bool:
        """A plain read, so an idle round takes no write lock."""
        with self.db.reading() as session:
            return (
                session.scalars(
                    select(Assignment.id)
                    .join(Target, Assignment.target_id == Target.id)
                    .where(
                        Assignment.state == AssignmentState.PENDING.value,
                        Target.connection == ConnectionKind.SSH.value,
                    )
                    .limit(1)
                ).first()
                is not None
            )

    def _claim(self, limit: int) -> list[_Claimed]:
        """Move up to ``limit`` pending SSH assignments to dispatched; describe each."""
        claimed: list[_Claimed] = []
        if not self._anything_pending():
            return claimed
        with self.db.writing() as session:
            rows = session.scalars(
                select(Assignment)
                .join(Target, Assignment.target_id == Target.id)
                .options(
                    selectinload(Assignment.target),
                    selectinload(Assignment.version),
                    selectinload(Assignment.component),
                )
                .where(
                    Assignment.state == AssignmentState.PENDING.value,
                    Target.connection == ConnectionKind.SSH.value,
                )
                .order_by(Assignment.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            ).all()
            for assignment in rows:
                endpoint = get_endpoint(session, assignment.target_id)
                move_assignment(
                    session,
                    EXECUTOR,
                    assignment,
                    AssignmentState.DISPATCHED,
                    reason="claimed by the SSH executor",
                )
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
            move_assignment(session, EXECUTOR, assignment, state, reason=reason, output=output)

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
