"""The weekly digest's Markdown."""

from __future__ import annotations

from typing import Any

from tasks.digest_render import render_markdown


def content() -> dict[str, Any]:
    share = {"evaluations": 4, "denies": 1, "deny_share": 0.25}
    empty = {"evaluations": 0, "denies": 0, "deny_share": None}
    return {
        "week_start": "2026-02-23T09:00:00+00:00",
        "week_end": "2026-03-02T09:00:00+00:00",
        "trend": {
            "days": [
                {"day_start": "2026-02-23T09:00:00+00:00", **share},
                {"day_start": "2026-02-24T09:00:00+00:00", **empty},
            ],
            "week": share,
            "previous_week": empty,
            "change": None,
        },
        "violations": {"rules": [{"rule_id": "R-1", "title": "a | b", "denies": 3}]},
        "effective": {"window_days": 90, "rules": []},
        "declining": {
            "rules": [{"rule_id": "R-2", "title": "t", "was": 80.0, "now": 50.25}]
        },
        "pending": {
            "pending_proposals": 2,
            "open_alerts": {"critical": 1, "warning": 0, "info": 3},
            "reviews_due": 4,
        },
    }


def test_markdown_has_a_section_per_part() -> None:
    """Trend, violations, effective, declining and pending each get a section."""
    markdown = render_markdown(content())

    assert markdown.startswith("# Weekly digest: 2026-02-23 to 2026-03-02\n")
    assert "Deny share this week: 25.0% of 4 evaluations" in markdown
    assert "| 2026-02-24 | 0 | no evaluations |" in markdown
    assert "| R-2 | t | 80.0 | 50.2 |" in markdown
    assert "No rule has 10 or more judgments in the last 90 days." in markdown
    assert "- Rules due for review: 4" in markdown


def test_markdown_escapes_pipes_in_titles() -> None:
    """A title with a pipe does not break its table row."""
    markdown = render_markdown(content())

    assert "| R-1 | a \\| b | 3 |" in markdown
    assert "|---|---|---|\n| R-1" in markdown
