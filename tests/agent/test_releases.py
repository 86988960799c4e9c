"""releases.py: the atomic switch, retention, and the canonical inventory."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from golive.agent.errors import AssignmentFailure
from golive.agent.releases import (
    IN_PROGRESS,
    ComponentTree,
    apply_retention,
    canonical,
    inventory,
    inventory_digest,
)
from golive.agent.state import AgentState, StateFile


def _release(tree: ComponentTree, name: str, state: AgentState | None = None) -> None:
    tree.release_dir(name).mkdir(parents=True)
    (tree.release_dir(name) / "VERSION").write_text(name)
    if state is not None:
        state.sequence += 1
        state.releases.setdefault(tree.component, {})[name] = {
            "version": name.split("-")[0],
            "digest": name.split("-")[1] * 8,
            "sequence": state.sequence,
        }


def test_switch_replaces_current_atomically_and_leaves_no_temporary(tmp_path: Path) -> None:
    tree = ComponentTree(tmp_path, "shop")
    _release(tree, "1.0-aaaaaaaa")
    _release(tree, "2.0-bbbbbbbb")
    tree.switch_to("1.0-aaaaaaaa")
    inode_before = os.lstat(tree.current).st_ino
    tree.switch_to("2.0-bbbbbbbb")
    assert os.readlink(tree.current) == "releases/2.0-bbbbbbbb"
    assert (tree.current / "VERSION").read_text() == "2.0-bbbbbbbb"
    assert os.lstat(tree.current).st_ino != inode_before  # a new link, renamed over the old
    assert sorted(p.name for p in tree.folder.iterdir()) == ["current", "releases"]
    tree.point_current_to(None)
    assert not tree.current.is_symlink()


def test_switch_refuses_to_replace_a_real_folder(tmp_path: Path) -> None:
    tree = ComponentTree(tmp_path, "shop")
    _release(tree, "1.0-aaaaaaaa")
    tree.current.mkdir()
    with pytest.raises(AssignmentFailure, match="not a symlink"):
        tree.switch_to("1.0-aaaaaaaa")
    assert tree.current.is_dir()


def test_retention_keeps_newest_and_never_current_or_previous(tmp_path: Path) -> None:
    state = AgentState()
    tree = ComponentTree(tmp_path, "shop")
    names = [f"{n}.0-{chr(96 + n) * 8}" for n in range(1, 7)]
    for name in names:
        _release(tree, name, state)
    _release(tree, "evil-xxxxxxxx")  # not installed by the agent: never touched
    tree.switch_to(names[0])  # current is the oldest (say, after a manual rollback)

    removed = apply_retention(tree, state, keep=2, previous=names[1])
    assert sorted(removed) == sorted(names[2:4])
    assert sorted(p.name for p in tree.releases.iterdir()) == sorted(
        [names[0], names[1], names[4], names[5], "evil-xxxxxxxx"]
    )
    assert sorted(state.releases["shop"]) == sorted([names[0], names[1], names[4], names[5]])


def test_inventory_lists_current_and_flags_unauthorised(tmp_path: Path) -> None:
    state = AgentState()
    shop = ComponentTree(tmp_path, "shop")
    _release(shop, "1.0-aaaaaaaa", state)
    shop.switch_to("1.0-aaaaaaaa")
    api = ComponentTree(tmp_path, "api")
    _release(api, "2.0-bbbbbbbb", state)
    _release(api, "evil")
    api.switch_to("evil")  # someone pointed current elsewhere by hand
    half = ComponentTree(tmp_path, "half")
    _release(half, "3.0-cccccccc", state)
    (half.release_dir("3.0-cccccccc") / IN_PROGRESS).touch()
    half.switch_to("3.0-cccccccc")  # an incomplete release is not "installed"
    ComponentTree(tmp_path, "idle").releases.mkdir(parents=True)  # nothing current

    body = inventory(tmp_path, state)
    assert body == {
        "installed": [
            {
                "component": "shop",
                "version": "1.0",
                "digest": "a" * 64,
                "release": "1.0-aaaaaaaa",
            }
        ],
        "unauthorised": [
            {
                "component": "api",
                "current": "releases/evil",
                "reason": "current points to releases/evil, which golive-agent did not install",
            },
            {
                "component": "half",
                "current": "releases/3.0-cccccccc",
                "reason": "current points to releases/3.0-cccccccc, which golive-agent did "
                "not install",
            },
        ],
    }
    assert os.readlink(api.current) == "releases/evil"  # reported, never repaired
    assert canonical(body) == json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    assert len(inventory_digest(body)) == 64


def test_state_file_is_private_and_written_atomically(tmp_path: Path) -> None:
    states = StateFile(tmp_path)
    state = states.load()
    state.credential = "gla_secret"
    states.save(state)
    assert (tmp_path / "state.json").stat().st_mode & 0o777 == 0o600
    assert StateFile(tmp_path).load().credential == "gla_secret"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]
