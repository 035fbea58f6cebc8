"""Figures that tests report at the end of the session (printed by conftest)."""

from __future__ import annotations

from typing import Any

REPORTED: list[tuple[str, dict[str, Any]]] = []


def report(title: str, figures: dict[str, Any]) -> None:
    """Print ``figures`` under ``title`` in the test session's summary."""
    REPORTED.append((title, figures))
