"""Carry out one assignment as a journaled sequence of phases, so that an agent killed at
any instant resumes on restart and the target runs the old release or the new one.

install: download → unpack → pre_install → switch (+ post_install) → verify (health_check)
         → succeeded, or → rollback (pre_rollback, switch back) → rolled_back
remove:  remove → succeeded

Each phase is recorded in the state file before its effects begin; each is idempotent when
repeated from its start.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from golive.agent import archive
from golive.agent.errors import AssignmentFailure
from golive.agent.fetch import DEFAULT_MAX_ARTIFACT_BYTES, download_artifact, is_intact
from golive.agent.files import crash_point, fsync_dir, fsync_tree, remove_tree, write_atomic
from golive.agent.hooks import HookContext, HookResult, run_hook, truncate_output
from golive.agent.releases import (
    IN_PROGRESS,
    NAME,
    ComponentTree,
    apply_retention,
    check_name,
    release_name,
)
from golive.agent.state import AgentState, Journal, StateFile

log = logging.getLogger("golive.agent")
DIGEST = re.compile(r"[0-9a-f]{64}")

# The protocol's order of reported states; a report may only move forward in it.
PROGRESS = ("dispatched", "downloading", "installing", "verifying")
TERMINAL = ("succeeded", "failed", "rolled_back")
DEFAULT_HOOK_TIMEOUT = 300.0
DEFAULT_KEEP = 3
REASON_LIMIT = 4000  # the server's limit on a report's reason


def now_iso() -> str:
    return datetime.now(UTC).isoformat().replace("+00:00", "Z")


class Installer:
    """Runs assignments against the agent's root; reports go to the state's outbox."""

    def __init__(
        self,
        root: Path,
        state: AgentState,
        state_file: StateFile,
        *,
        server: str,
        pinned_root: Callable[[], bytes],
        max_artifact_bytes: int = DEFAULT_MAX_ARTIFACT_BYTES,
        deliver: Callable[[], None] | None = None,
    ) -> None:
        self.root = root
        self.state = state
        self.state_file = state_file
        self.server = server
        self.pinned_root = pinned_root
        self.max_artifact_bytes = max_artifact_bytes
        self.deliver = deliver

    # -- entry points --------------------------------------------------------------------------

    def start(self, assignment: dict[str, Any]) -> None:
        """Begin a new assignment (journal it first), then carry it out."""
        action = assignment.get("action", "install")
        phase = "remove" if action == "remove" else "download"
        reported = str(assignment.get("state") or "dispatched")
        if reported not in PROGRESS:
            reported = "dispatched"
        self.state.journal = Journal(assignment=assignment, phase=phase, reported=reported)
        self.save()
        self.resume()

    def refuse(self, assignment: dict[str, Any], problem: str) -> None:
        """Report a malformed assignment failed without touching anything."""
        journal = Journal(assignment=assignment, phase="refused")
        self._finish(journal, "failed", problem)

    def resume(self) -> None:
        """Carry the journaled assignment on from its recorded phase to a terminal report.

        Raises:
            ServerUnavailable: the artifact could not be fetched; the journal stays, the
                assignment resumes on the next cycle.
        """
        journal = self.state.journal
        if journal is None:
            return
        try:
            if journal.phase == "remove":
                self._remove(journal)
            else:
                self._install(journal)
        except AssignmentFailure as failure:
            self._abandon(journal, failure.message)
        except OSError as error:
            self._abandon(journal, f"{type(error).__name__}: {error}")

    def _abandon(self, journal: Journal, reason: str) -> None:
        """End an assignment that cannot go on: roll back when ``current`` was already
        switched to its release, else report it failed (``current`` was never touched).
        """
        a = journal.assignment
        tree = ComponentTree(self.root, str(a["component"]))
        switched = journal.release is not None and tree.current_release() == journal.release
        was_running = journal.previous_link == f"releases/{journal.release}"
        if journal.phase in ("switch", "verify", "rollback") and switched and not was_running:
            try:
                self._start_rollback(journal, f"{reason}; rolled back")
                self._rollback(journal, tree, str(journal.release))
                return
            except (AssignmentFailure, OSError) as error:
                reason = f"{reason}; the rollback failed too: {error}"
        if journal.release is not None and journal.phase != "remove":
            with contextlib.suppress(OSError):
                tree.discard_incomplete()
                if tree.current_release() != journal.release:
                    self._discard_release(journal, tree, journal.release)
        self._fail(journal, reason)

    # -- install -------------------------------------------------------------------------------

    def _install(self, journal: Journal) -> None:
        a = journal.assignment
        component = check_name("component", str(a["component"]))
        check_name("version", str(a["version"]))
        tree = ComponentTree(self.root, component)
        if journal.release is None:
            journal.release = release_name(str(a["version"]), str(a["digest"]))
            journal.previous_link = tree.current_link()
            self.save()
        release = journal.release

        if journal.phase == "download":
            self.report(journal, "downloading")
            self._download(journal)
            journal.phase = "unpack"
            self.save()
        if journal.phase == "unpack":
            self.report(journal, "installing")
            if not is_intact(self._artifact(journal), str(a["digest"]), int(a["size"])):
                self._download(journal)  # the download was lost or damaged: fetch it again
            self._unpack(journal, tree, release)
            journal.phase = "pre_install"
            self.save()
        if journal.phase == "pre_install":
            self.report(journal, "installing")
            result = self._hook(journal, "pre_install")
            if result is not None and not result.succeeded:
                self._discard_release(journal, tree, release)
                raise AssignmentFailure(f"{result.summary()}; current was not switched")
            self._record_release(tree, journal)
            journal.phase = "switch"
            self.save()
        if journal.phase == "switch":
            tree.switch_to(release)
            crash_point("switch")  # tests: killed between the switch and the health check
            result = self._hook(journal, "post_install")
            if result is not None and not result.succeeded:
                self._start_rollback(journal, f"{result.summary()}; rolled back")
            else:
                journal.phase = "verify"
                self.save()
        if journal.phase == "verify":
            self.report(journal, "verifying")
            tree.switch_to(release)  # idempotent: a resumed agent checks what it runs
            result = self._hook(journal, "health_check")
            if result is not None and not result.succeeded:
                self._start_rollback(journal, f"{result.summary()}; rolled back")
            else:
                self._succeed_install(journal, tree)
                return
        if journal.phase == "rollback":
            self._rollback(journal, tree, release)

    def _artifact(self, journal: Journal) -> Path:
        name = str(journal.assignment["tuf_target"]).rsplit("/", 1)[-1]
        return self._download_dir(journal) / name

    def _download_dir(self, journal: Journal) -> Path:
        return self.root / "downloads" / str(journal.assignment_id)

    def _download(self, journal: Journal) -> None:
        a = journal.assignment
        folder = self._download_dir(journal)
        remove_tree(folder)  # a partial download from a killed run is discarded
        download_artifact(
            server=self.server,
            metadata_dir=self.root / "tuf" / "metadata",
            pinned_root=self.pinned_root(),
            tuf_target=str(a["tuf_target"]),
            digest=str(a["digest"]),
            size=int(a["size"]),
            destination=folder,
            max_bytes=self.max_artifact_bytes,
        )

    def _unpack(self, journal: Journal, tree: ComponentTree, release: str) -> None:
        if tree.current_release() == release and tree.is_complete(release):
            return  # the release already runs here (a reinstall): never unpack over it
        tree.releases.mkdir(parents=True, exist_ok=True)
        tree.discard_incomplete()  # a half-unpacked release from a killed run is redone
        staging = tree.staging_dir(release)
        staging.mkdir()
        write_atomic(staging / IN_PROGRESS, b"", mode=0o644)
        archive.unpack(
            self._artifact(journal),
            staging,
            str(journal.assignment["tuf_target"]).rsplit("/", 1)[-1],
            after_entry=lambda: crash_point("unpack"),
        )
        fsync_tree(staging)
        final = tree.release_dir(release)
        if final.exists() or final.is_symlink():
            remove_tree(final)  # an older copy not in use: replaced by the verified bytes
        staging.rename(final)
        fsync_dir(tree.releases)
        (final / IN_PROGRESS).unlink()
        fsync_dir(final)

    def _record_release(self, tree: ComponentTree, journal: Journal) -> None:
        """Authorise the release before ``current`` may point at it (inventory)."""
        a = journal.assignment
        records = self.state.releases.setdefault(tree.component, {})
        self.state.sequence += 1
        records[str(journal.release)] = {
            "version": str(a["version"]),
            "digest": str(a["digest"]),
            "sequence": self.state.sequence,
        }

    def _start_rollback(self, journal: Journal, reason: str) -> None:
        journal.phase = "rollback"
        journal.reason = reason
        self.save()

    def _rollback(self, journal: Journal, tree: ComponentTree, release: str) -> None:
        if not journal.pre_rollback_done:
            self._hook(journal, "pre_rollback")
            journal.pre_rollback_done = True
            self.save()
        tree.point_current_to(journal.previous_link)
        self._discard_release(journal, tree, release)
        self._finish(journal, "rolled_back", journal.reason or "rolled back")

    def _discard_release(self, journal: Journal, tree: ComponentTree, release: str) -> None:
        """Delete a release that did not become (or stay) current, unless it was the one
        running before this assignment.
        """
        if journal.previous_link == f"releases/{release}" or tree.current_release() == release:
            return
        remove_tree(tree.release_dir(release))
        self.state.releases.get(tree.component, {}).pop(release, None)

    def _succeed_install(self, journal: Journal, tree: ComponentTree) -> None:
        keep = int(journal.assignment.get("keep_releases") or DEFAULT_KEEP)
        previous = _release_of(journal.previous_link)
        removed = apply_retention(tree, self.state, keep, previous)
        if removed:
            log.info("retention removed %s of %s", ", ".join(removed), tree.component)
        self._finish(journal, "succeeded", None)

    # -- remove --------------------------------------------------------------------------------

    def _remove(self, journal: Journal) -> None:
        component = check_name("component", str(journal.assignment["component"]))
        tree = ComponentTree(self.root, component)
        self.report(journal, "installing")
        if tree.current.exists() and not tree.current.is_symlink():
            raise AssignmentFailure(f"{tree.current} is not a symlink; it was left in place")
        tree.point_current_to(None)
        for release in list(self.state.releases.get(component, {})):
            remove_tree(tree.release_dir(release))
        self.state.releases.pop(component, None)
        tree.discard_incomplete()
        for folder in (tree.releases, tree.folder):
            if folder.is_dir() and not any(folder.iterdir()):
                folder.rmdir()
        self.report(journal, "verifying")
        self._finish(journal, "succeeded", None)

    # -- hooks and reports ---------------------------------------------------------------------

    def _hook(self, journal: Journal, hook: str) -> HookResult | None:
        a = journal.assignment
        command = (a.get("hooks") or {}).get(hook)
        if not command:
            return None
        tree = ComponentTree(self.root, str(a["component"]))
        release_dir = tree.release_dir(str(journal.release))
        previous = _release_of(journal.previous_link)
        context = HookContext(
            root=self.root,
            assignment_id=journal.assignment_id,
            action=str(a.get("action", "install")),
            component=str(a["component"]),
            version=str(a["version"]),
            digest=str(a["digest"]),
            release_dir=release_dir,
            previous_release_dir=tree.release_dir(previous) if previous else None,
        )
        timeout = float(a.get("hook_timeout_seconds") or DEFAULT_HOOK_TIMEOUT)
        cwd = release_dir if release_dir.is_dir() else self.root
        result = run_hook(hook, str(command), cwd, context, timeout)
        log.info("assignment %s: %s", journal.assignment_id, result.summary())
        journal.output = truncate_output(journal.output + result.section())
        self.save()
        return result

    def report(self, journal: Journal, state: str) -> None:
        """Queue the reports that move the assignment forward to ``state`` (intermediate
        states included, as the protocol's allowed moves require); never backwards.
        """
        if state not in PROGRESS or journal.reported not in PROGRESS:
            raise ValueError(f"not a progress state: {state}")
        start, stop = PROGRESS.index(journal.reported), PROGRESS.index(state)
        if stop <= start:
            return
        for step in PROGRESS[start + 1 : stop + 1]:
            self._queue(journal, step, None, None)
        journal.reported = state
        self.save()
        if self.deliver is not None:
            self.deliver()

    def _fail(self, journal: Journal, reason: str) -> None:
        log.warning("assignment %s failed: %s", journal.assignment_id, reason)
        self._finish(journal, "failed", reason)

    def _finish(self, journal: Journal, state: str, reason: str | None) -> None:
        """Queue the terminal report, forget the journal and the download, in one save."""
        if state in ("succeeded",):
            self.report(journal, "verifying")
        if state == "rolled_back" and journal.reported in ("dispatched", "downloading"):
            self.report(journal, "installing")
        self._queue(journal, state, reason, journal.output or None)
        self.state.remember_finished(journal.assignment_id, state)
        self.state.journal = None
        self.save()
        remove_tree(self._download_dir(journal))
        if self.deliver is not None:
            self.deliver()

    def _queue(self, journal: Journal, state: str, reason: str | None, output: str | None) -> None:
        self.state.outbox.append(
            {
                "assignment_id": journal.assignment_id,
                "state": state,
                "at": now_iso(),
                "reason": reason[:REASON_LIMIT] if reason else None,
                "output": truncate_output(output) if output else None,
            }
        )

    def save(self) -> None:
        self.state_file.save(self.state)


def assignment_problem(assignment: dict[str, Any]) -> str | None:
    """Why an ASSIGNMENT object cannot be carried out as sent, or None."""
    if not isinstance(assignment.get("id"), int):
        return "the assignment has no integer id"
    if assignment.get("action", "install") not in ("install", "remove"):
        return f"unknown action {assignment.get('action')!r}; expected install or remove"
    for key in ("component", "version", "digest", "tuf_target"):
        if not isinstance(assignment.get(key), str) or not assignment[key]:
            return f"the assignment has no {key}"
    if DIGEST.fullmatch(str(assignment["digest"])) is None:
        return f"{assignment['digest']!r} is not a sha256 digest"
    size = assignment.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        return f"{size!r} is not a size in bytes"
    hooks = assignment.get("hooks") or {}
    if not isinstance(hooks, dict) or not all(isinstance(v, str) for v in hooks.values()):
        return "the assignment's hooks are not shell commands"
    for key in ("component", "version"):
        if NAME.fullmatch(str(assignment[key])) is None:
            return f"the {key} {assignment[key]!r} cannot be used as a folder name"
    return None


def _release_of(link: str | None) -> str | None:
    if link is None or not link.startswith("releases/") or "/" in link[len("releases/") :]:
        return None
    return link[len("releases/") :]
