"""``python -m golive`` runs the command line."""

from __future__ import annotations

from golive.cli.main import run

run()
