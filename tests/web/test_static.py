"""The console's static files: readable contrast for every state badge, and the vendored
htmx with its licence (no front-end build: what is served is what is in the tree)."""

from __future__ import annotations

import re

import pytest

from golive.web.console import STATIC_DIR

CSS = (STATIC_DIR / "console.css").read_text()
# WCAG 2.1, 1.4.3 Contrast (Minimum): 4.5:1 for normal text.
MINIMUM = 4.5


def _luminance(colour: str) -> float:
    """Relative luminance of #rrggbb (WCAG 2.1 definition)."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(first: str, second: str) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


PAIRS = re.findall(r"\{ background: (#[0-9a-f]{6}); color: (#[0-9a-f]{6}); \}", CSS)


def test_the_stylesheet_declares_the_state_colours() -> None:
    assert len(PAIRS) >= 8


@pytest.mark.parametrize(("background", "text"), PAIRS)
def test_every_state_badge_is_readable(background: str, text: str) -> None:
    assert contrast(background, text) >= MINIMUM


@pytest.mark.parametrize(
    ("background", "text"),
    [
        ("#ffffff", "#16181d"),  # body text
        ("#ffffff", "#4b5262"),  # muted text
        ("#ffffff", "#0b5cad"),  # links
        ("#0b5cad", "#ffffff"),  # primary buttons
        ("#ffffff", "#a4161a"),  # danger buttons
        ("#10243e", "#e6efff"),  # navigation
        ("#f4f6f9", "#4b5262"),  # muted text on the page background
    ],
)
def test_text_colours_are_readable(background: str, text: str) -> None:
    assert contrast(background, text) >= MINIMUM


def test_htmx_is_vendored_with_its_licence() -> None:
    script = (STATIC_DIR / "htmx.min.js").read_text()
    assert "htmx" in script
    assert len(script) > 40_000
    licence = (STATIC_DIR / "htmx.LICENSE.txt").read_text()
    assert "htmx.org@2" in licence
    assert "Zero-Clause BSD" in licence
