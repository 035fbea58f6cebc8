"""Rendering for the terminal: Rich tables by default, JSON on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from orchestrator.graph import Graph

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "upstream_failed": "red3",
    "running": "yellow",
    "queued": "cyan",
    "pending": "dim",
    "cancelled": "magenta",
}
RUN_FIELDS = ("id", "graph", "status", "trigger", "actor", "logical_time", "trace_id")
STEP_FIELDS = ("key", "status", "attempts", "error", "started_at", "finished_at")


def exit_code(status: str) -> int:
    """0 for a succeeded run, 1 for a failed one, 2 for a cancelled one."""
    return {"succeeded": 0, "failed": 1, "cancelled": 2}.get(status, 0)


def _dump(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def run_json(run: Mapping[str, Any]) -> dict[str, Any]:
    """A run as the CLI's ``--json`` prints it (DESIGN §6 fields, plus durations)."""
    body = {k: run[k] for k in RUN_FIELDS}
    body["duration_s"] = run.get("duration_s")
    body["steps"] = [
        {**{k: s[k] for k in STEP_FIELDS}, "duration_s": s.get("duration_s")}
        for s in run["steps"]
    ]
    return body


def _styled(status: str) -> str:
    style = STATUS_STYLE.get(status, "")
    return f"[{style}]{status}[/{style}]" if style else status


def run_table(run: Mapping[str, Any]) -> Table:
    """One run's steps as a table."""
    table = Table(
        title=f"{run['graph']} · run {run['id']} · {_styled(run['status'])}",
        title_justify="left",
    )
    for column in ("step", "status", "attempts", "duration", "error"):
        table.add_column(column)
    for step in run["steps"]:
        duration = step.get("duration_s")
        table.add_row(
            step["key"],
            _styled(step["status"]),
            str(step["attempts"]),
            "" if duration is None else f"{duration:.3f}s",
            (step["error"] or "")[:80],
        )
    return table


def print_run(console: Console, run: Mapping[str, Any], as_json: bool) -> None:
    if as_json:
        _dump(run_json(run))
        return
    console.print(run_table(run))
    console.print(
        f"trigger {run['trigger']} by {run['actor']} · logical time "
        f"{run['logical_time']} · trace {run['trace_id'] or '-'}"
    )


def print_runs(console: Console, runs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        _dump([run_json(r) for r in runs])
        return
    table = Table(title="Runs")
    for column in (
        "id",
        "graph",
        "status",
        "trigger",
        "logical time",
        "steps",
        "duration",
    ):
        table.add_column(column)
    for run in runs:
        done = sum(1 for s in run["steps"] if s["status"] == "succeeded")
        duration = run.get("duration_s")
        table.add_row(
            run["id"],
            run["graph"],
            _styled(run["status"]),
            run["trigger"],
            run["logical_time"],
            f"{done}/{len(run['steps'])}",
            "" if duration is None else f"{duration:.2f}s",
        )
    console.print(table)


def print_rows(
    console: Console, rows: list[dict[str, Any]], as_json: bool, *, title: str
) -> None:
    """A listing as a table of its scalar fields, or as JSON."""
    if as_json:
        _dump(rows)
        return
    table = Table(title=f"{title} ({len(rows)})")
    columns = list(rows[0]) if rows else []
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*(_cell(row[c]) for c in columns))
    console.print(table)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, dict | list):
        text = json.dumps(value, default=str)
        return text if len(text) <= 60 else text[:57] + "..."
    return str(value)


def print_report(console: Console, report: Any, as_json: bool) -> None:
    """An import or load report."""
    data = report.as_dict() if hasattr(report, "as_dict") else report
    if as_json:
        _dump(data)
        return
    console.print(str(report))


def print_graphs(console: Console, graphs: Mapping[str, Graph], as_json: bool) -> None:
    rows = [
        {
            "name": g.name,
            "steps": len(g.steps),
            "schedule": g.schedule,
            "max_active_runs": g.max_active_runs,
            "description": g.description,
        }
        for g in graphs.values()
    ]
    print_rows(console, rows, as_json, title="Graphs")
