"""The agent's state file: enrollment, the releases it installed itself, the journal of the
assignment in progress and the reports not yet delivered. Written atomically, mode 0600
(it holds the credential).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from golive.agent.errors import ConfigurationError
from golive.agent.files import write_atomic

STATE_FILE = "state.json"
FORMAT = 1
# Finished assignment ids are remembered so a lost report never makes the agent redo one.
FINISHED_KEPT = 500


@dataclass
class Journal:
    """The assignment in progress: enough to resume it after the agent was killed.

    ``phase`` is where to resume: download, unpack, pre_install, switch, verify, rollback
    (install) or remove. ``reported`` is the last state sent, so a resumed assignment never
    reports a state twice or goes backwards.
    """

    assignment: dict[str, Any]
    phase: str
    reported: str = "dispatched"
    release: str | None = None
    previous_link: str | None = None
    output: str = ""
    reason: str | None = None
    pre_rollback_done: bool = False

    @property
    def assignment_id(self) -> int:
        return int(self.assignment["id"])


@dataclass
class AgentState:
    """Everything the agent remembers between runs."""

    server: str = ""
    target: str = ""
    credential: str = ""
    poll_interval_seconds: float = 30.0
    etag: str | None = None
    inventory_recorded: str | None = None
    sequence: int = 0
    # component -> release folder name -> {"version", "digest", "sequence"}: the releases
    # this agent installed itself; `current` pointing anywhere else is unauthorised.
    releases: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    journal: Journal | None = None
    outbox: list[dict[str, Any]] = field(default_factory=list)
    finished: dict[str, str] = field(default_factory=dict)

    @property
    def is_enrolled(self) -> bool:
        return bool(self.credential)

    def remember_finished(self, assignment_id: int, state: str) -> None:
        self.finished[str(assignment_id)] = state
        while len(self.finished) > FINISHED_KEPT:
            del self.finished[next(iter(self.finished))]

    def to_json(self) -> bytes:
        body = asdict(self)
        body["format"] = FORMAT
        return json.dumps(body, indent=2, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> AgentState:
        body = json.loads(data)
        if not isinstance(body, dict) or body.pop("format", None) != FORMAT:
            raise ValueError("unknown state format")
        journal = body.pop("journal", None)
        state = cls(**body)
        state.journal = Journal(**journal) if journal else None
        return state


class StateFile:
    """``DIR/state.json``: loaded once, saved after every step that must survive a kill."""

    def __init__(self, root: Path) -> None:
        self.path = root / STATE_FILE

    def load(self) -> AgentState:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return AgentState()
        try:
            return AgentState.from_json(data)
        except (ValueError, TypeError) as error:
            raise ConfigurationError(
                f"the agent state file {self.path} is unreadable ({error}); move it away and "
                "enroll again"
            ) from None

    def save(self, state: AgentState) -> None:
        write_atomic(self.path, state.to_json(), mode=0o600)
