"""``python -m golive.agent`` runs the agent's command line."""

from __future__ import annotations

from golive.agent.cli import run

run()
