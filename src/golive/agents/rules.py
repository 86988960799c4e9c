"""Rules of assignments, as data and pure functions (docs/agent-protocol.md, "Reports").

An assignment moves pending → dispatched → downloading → installing → verifying and
ends succeeded, failed, rolled_back or skipped. Agents report the moves from
downloading on; the server (and later the deployment engine) makes the others.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

from golive.errors import AuthenticationError, ConflictError


class AssignmentAction(StrEnum):
    INSTALL = "install"
    REMOVE = "remove"


class AssignmentState(StrEnum):
    PENDING = "pending"
    DISPATCHED = "dispatched"
    DOWNLOADING = "downloading"
    INSTALLING = "installing"
    VERIFYING = "verifying"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"
    SKIPPED = "skipped"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


_S = AssignmentState

TERMINAL = frozenset({_S.SUCCEEDED, _S.FAILED, _S.ROLLED_BACK, _S.SKIPPED})
ACTIVE = frozenset(state for state in AssignmentState if state not in TERMINAL)
# What an agent may say about an assignment; pending, dispatched and skipped are the server's.
REPORTABLE = frozenset(
    {_S.DOWNLOADING, _S.INSTALLING, _S.VERIFYING, _S.SUCCEEDED, _S.FAILED, _S.ROLLED_BACK}
)

# The protocol's allowed moves for reports: dispatched|pending → downloading → installing
# → verifying → succeeded|rolled_back; any non-terminal → failed; installing|verifying →
# rolled_back. Terminal states are final.
REPORT_TRANSITIONS: Mapping[AssignmentState, frozenset[AssignmentState]] = MappingProxyType(
    {
        _S.PENDING: frozenset({_S.DOWNLOADING, _S.FAILED}),
        _S.DISPATCHED: frozenset({_S.DOWNLOADING, _S.FAILED}),
        _S.DOWNLOADING: frozenset({_S.INSTALLING, _S.FAILED}),
        _S.INSTALLING: frozenset({_S.VERIFYING, _S.FAILED, _S.ROLLED_BACK}),
        _S.VERIFYING: frozenset({_S.SUCCEEDED, _S.FAILED, _S.ROLLED_BACK}),
        _S.SUCCEEDED: frozenset(),
        _S.FAILED: frozenset(),
        _S.ROLLED_BACK: frozenset(),
        _S.SKIPPED: frozenset(),
    }
)

# The server's own moves on top of the agents': dispatching, and skipping what has not
# started (the deployment engine, an SSH executor, a person closing a work order).
SERVER_TRANSITIONS: Mapping[AssignmentState, frozenset[AssignmentState]] = MappingProxyType(
    {
        state: allowed
        | {
            _S.PENDING: frozenset({_S.DISPATCHED, _S.SKIPPED}),
            _S.DISPATCHED: frozenset({_S.SKIPPED}),
        }.get(state, frozenset())
        for state, allowed in REPORT_TRANSITIONS.items()
    }
)

OUTPUT_LIMIT_BYTES = 64 * 1024
HOOKS = ("pre_install", "post_install", "health_check", "pre_rollback")


def next_states(
    state: AssignmentState,
    table: Mapping[AssignmentState, frozenset[AssignmentState]] = REPORT_TRANSITIONS,
) -> list[AssignmentState]:
    """The states ``state`` may move to, in life-cycle order."""
    allowed = table[state]
    return [candidate for candidate in AssignmentState if candidate in allowed]


def check_move(
    assignment_id: int,
    current: AssignmentState,
    wanted: AssignmentState,
    table: Mapping[AssignmentState, frozenset[AssignmentState]] = REPORT_TRANSITIONS,
) -> bool:
    """Whether ``current → wanted`` changes anything.

    Returns:
        False when ``wanted`` is the current state (an idempotent retry), True for a move.

    Raises:
        ConflictError: the move is not allowed (naming the allowed next states); every
            move out of a terminal state is refused.
    """
    if wanted == current:
        return False
    if wanted in table[current]:
        return True
    allowed = next_states(current, table)
    shown = ", ".join(state.value for state in allowed) or "none, it is finished"
    raise ConflictError(
        f"assignment {assignment_id} is {current.value} and cannot become {wanted.value}; "
        f"allowed next: {shown}",
        details={
            "assignment_id": assignment_id,
            "state": current.value,
            "requested": wanted.value,
            "allowed": [state.value for state in allowed],
        },
    )


def truncate_output(text: str | None, limit: int = OUTPUT_LIMIT_BYTES) -> str | None:
    """Hook output cut to ``limit`` bytes of UTF-8 (never in the middle of a character)."""
    if text is None:
        return None
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= limit:
        return text
    return encoded[:limit].decode("utf-8", "ignore")


def canonical_inventory(body: Mapping[str, Any]) -> bytes:
    """The protocol's canonical inventory: sorted keys, compact, ``installed`` by component."""
    ordered = dict(body)
    installed = ordered.get("installed")
    if isinstance(installed, list):
        ordered["installed"] = sorted(installed, key=lambda entry: str(entry.get("component")))
    return json.dumps(ordered, sort_keys=True, separators=(",", ":")).encode()


def inventory_digest(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical_inventory(body)).hexdigest()


def etag(target_id: int, generation: int) -> str:
    """The check-in's ETag: the target and its desired-state generation."""
    return f'"{target_id}-{generation}"'


def etag_matches(if_none_match: str | None, current: str) -> bool:
    """RFC 9110 §13.1.2: If-None-Match holds a list of (weak or strong) entity tags."""
    if not if_none_match:
        return False
    if if_none_match == current:
        return True
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag.removeprefix("W/") == current:
            return True
    return False


class TargetRevokedError(AuthenticationError):
    """The agent's credential was revoked; the agent stops (docs/agent-protocol.md)."""

    code = "target_revoked"


def revoked() -> TargetRevokedError:
    return TargetRevokedError(
        "this agent's credential has been revoked; the agent must stop "
        "(an admin revoked the target's agent, or a newer registration replaced it)"
    )
