"""golive: deployment management from the definitive media library to every target."""

from __future__ import annotations

__version__ = "0.1.0"
