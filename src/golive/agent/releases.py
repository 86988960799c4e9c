"""The install tree: ``DIR/components/<component>/releases/<version>-<sha8>/`` and the
``current`` symlink, switched atomically; retention; the canonical inventory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from golive.agent.errors import AssignmentFailure
from golive.agent.files import fsync_dir, remove_tree
from golive.agent.state import AgentState

IN_PROGRESS = ".golive-in-progress"
# Component names and versions become folder names: the same rule as TUF target segments.
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+~-]{0,199}")
_RELEASE_LINK = re.compile(r"releases/([^/]+)")


def release_name(version: str, digest: str) -> str:
    return f"{version}-{digest[:8]}"


def check_name(kind: str, value: str) -> str:
    if NAME.fullmatch(value) is None or value in (".", ".."):
        raise AssignmentFailure(f"the {kind} {value!r} cannot be used as a folder name")
    return value


@dataclass(frozen=True)
class ComponentTree:
    """One component's folder on the target."""

    root: Path
    component: str

    @property
    def folder(self) -> Path:
        return self.root / "components" / self.component

    @property
    def releases(self) -> Path:
        return self.folder / "releases"

    @property
    def current(self) -> Path:
        return self.folder / "current"

    def release_dir(self, release: str) -> Path:
        return self.releases / release

    def staging_dir(self, release: str) -> Path:
        return self.releases / f".{release}.partial"

    def current_link(self) -> str | None:
        """What ``current`` points to (the raw link text), or None when there is none."""
        try:
            return os.readlink(self.current)
        except FileNotFoundError:
            return None
        except OSError:
            # current exists but is not a symlink: report the fact, never touch it.
            return "current" if self.current.exists() else None

    def current_release(self) -> str | None:
        """The release folder name ``current`` points to, when it is ``releases/<name>``."""
        link = self.current_link()
        match = _RELEASE_LINK.fullmatch(link) if link is not None else None
        return match[1] if match else None

    def is_complete(self, release: str) -> bool:
        folder = self.release_dir(release)
        return folder.is_dir() and not folder.is_symlink() and not (folder / IN_PROGRESS).exists()

    def point_current_to(self, link: str | None) -> None:
        """Make ``current`` point to ``link`` atomically: a new symlink under a temporary
        name, then ``os.replace`` onto ``current``; None removes ``current``.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        if link is None:
            if self.current.is_symlink():
                self.current.unlink()
                fsync_dir(self.folder)
            return
        if self.current.exists() and not self.current.is_symlink():
            raise AssignmentFailure(
                f"{self.current} is not a symlink; golive-agent will not replace it"
            )
        temporary = self.folder / f".current.{os.getpid()}.tmp"
        if temporary.is_symlink() or temporary.exists():
            temporary.unlink()
        os.symlink(link, temporary)
        os.replace(temporary, self.current)
        fsync_dir(self.folder)

    def switch_to(self, release: str) -> None:
        self.point_current_to(f"releases/{release}")

    def discard_incomplete(self) -> None:
        """Delete staging folders and any release still carrying the in-progress marker."""
        if not self.releases.is_dir():
            return
        for entry in self.releases.iterdir():
            is_staging = entry.name.startswith(".") and entry.name.endswith(".partial")
            is_marked = entry.is_dir() and not entry.is_symlink() and (entry / IN_PROGRESS).exists()
            if is_staging or is_marked:
                remove_tree(entry)


def apply_retention(
    tree: ComponentTree, state: AgentState, keep: int, previous: str | None
) -> list[str]:
    """Delete this agent's own releases beyond the newest ``keep``; never ``current`` nor
    ``previous``. Releases the agent did not install are left alone. Returns what went.
    """
    records = state.releases.get(tree.component, {})
    newest_first = sorted(records, key=lambda name: records[name]["sequence"], reverse=True)
    protected = {tree.current_release(), previous}
    removed: list[str] = []
    for position, release in enumerate(newest_first):
        if position < max(keep, 1) or release in protected:
            continue
        remove_tree(tree.release_dir(release))
        del records[release]
        removed.append(release)
    if removed and tree.releases.is_dir():
        fsync_dir(tree.releases)
    return removed


def inventory(root: Path, state: AgentState) -> dict[str, Any]:
    """The canonical inventory body (docs/agent-protocol.md): what ``current`` runs for each
    component, and ``unauthorised`` entries where it points anywhere this agent did not put.
    """
    installed: list[dict[str, Any]] = []
    unauthorised: list[dict[str, Any]] = []
    components = root / "components"
    names = sorted(p.name for p in components.iterdir()) if components.is_dir() else []
    for component in names:
        tree = ComponentTree(root, component)
        link = tree.current_link()
        if link is None:
            continue
        release = tree.current_release()
        record = state.releases.get(component, {}).get(release or "")
        if release is not None and record is not None and tree.is_complete(release):
            installed.append(
                {
                    "component": component,
                    "version": record["version"],
                    "digest": record["digest"],
                    "release": release,
                }
            )
        elif link == "current":
            unauthorised.append(
                {
                    "component": component,
                    "current": link,
                    "reason": "current is not a symlink; golive-agent did not create it",
                }
            )
        else:
            unauthorised.append(
                {
                    "component": component,
                    "current": link,
                    "reason": f"current points to {link}, which golive-agent did not install",
                }
            )
    return {"installed": installed, "unauthorised": unauthorised}


def canonical(body: dict[str, Any]) -> bytes:
    """The protocol's canonical JSON: sorted keys, no spaces."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def inventory_digest(body: dict[str, Any]) -> str:
    return hashlib.sha256(canonical(body)).hexdigest()
