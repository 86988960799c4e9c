"""Integration tests run the server with a webhook backoff of fractions of a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from golive.settings import Settings

FAST_BACKOFF = (0.3, 0.6)  # three attempts in all, about a second apart


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "home"
    home.mkdir()
    return Settings(
        home=home,
        database_url=database_url,
        webhook_poll_seconds=0.05,
        webhook_backoff_seconds=FAST_BACKOFF,
        webhook_timeout_seconds=5.0,
    )
