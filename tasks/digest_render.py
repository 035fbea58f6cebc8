"""The weekly digest as readable Markdown, from its JSON content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _cell(value: Any) -> str:
    """A table cell: pipes escaped, on one line."""
    return " ".join(str(value).split()).replace("|", "\\|")


def _percent(share: float | None) -> str:
    return "no evaluations" if share is None else f"{100 * share:.1f}%"


def _trend(trend: Mapping[str, Any]) -> list[str]:
    week, previous = trend["week"], trend["previous_week"]
    lines = [
        "## Compliance trend",
        "",
        f"Deny share this week: {_percent(week['deny_share'])} of "
        f"{week['evaluations']} evaluations (the week before: "
        f"{_percent(previous['deny_share'])} of {previous['evaluations']}).",
        "",
        "| Day | Evaluations | Deny share |",
        "|---|---:|---:|",
    ]
    lines += [
        f"| {day['day_start'][:10]} | {day['evaluations']} | "
        f"{_percent(day['deny_share'])} |"
        for day in trend["days"]
    ]

    return lines


def _table(title: str, header: str, rows: list[str], empty: str) -> list[str]:
    lines = ["", f"## {title}", ""]
    if not rows:
        return [*lines, empty]

    return [*lines, header, "|" + "---|" * header.count("|", 1), *rows]


def render_markdown(content: Mapping[str, Any]) -> str:
    """The digest's Markdown: one section per part of its content."""
    lines = [
        f"# Weekly digest: {content['week_start'][:10]} to {content['week_end'][:10]}",
        "",
        *_trend(content["trend"]),
    ]
    lines += _table(
        "Top violations",
        "| Rule | Title | Deny verdicts |",
        [
            f"| {r['rule_id']} | {_cell(r['title'])} | {r['denies']} |"
            for r in content["violations"]["rules"]
        ],
        "No deny verdicts this week.",
    )
    lines += _table(
        "Most effective rules",
        "| Rule | Title | Effectiveness | Judgments |",
        [
            f"| {r['rule_id']} | {_cell(r['title'])} | {r['effectiveness']:.1f} | "
            f"{r['judgments']} |"
            for r in content["effective"]["rules"]
        ],
        "No rule has 10 or more judgments in the last 90 days.",
    )
    lines += _table(
        "Declining rules",
        "| Rule | Title | Health a week ago | Health now |",
        [
            f"| {r['rule_id']} | {_cell(r['title'])} | {r['was']:.1f} | {r['now']:.1f} |"
            for r in content["declining"]["rules"]
        ],
        "No rule's overall health dropped this week.",
    )
    pending = content["pending"]
    alerts = pending["open_alerts"]
    lines += [
        "",
        "## Pending actions",
        "",
        f"- Proposals awaiting review: {pending['pending_proposals']}",
        f"- Open alerts: {alerts['critical']} critical, {alerts['warning']} warning, "
        f"{alerts['info']} info",
        f"- Rules due for review: {pending['reviews_due']}",
    ]

    return "\n".join(lines) + "\n"
