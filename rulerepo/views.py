"""Rendering for the terminal: Rich tables by default, JSON on request."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console, Group, RenderableType
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from orchestrator.graph import Graph
from orchestrator.schedules import ScheduleState, next_slot

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


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _dump(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=_json_default) + "\n")


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


def graph_rows(
    graphs: Mapping[str, Graph],
    states: Mapping[str, ScheduleState],
    zone: ZoneInfo,
    now: datetime,
) -> list[dict[str, Any]]:
    """Each graph with its schedule: paused or not, and its next slot."""
    rows = []
    for name in sorted(graphs):
        graph, state = graphs[name], states.get(name)
        scheduled = graph.schedule is not None
        rows.append(
            {
                "name": name,
                "schedule": graph.schedule,
                "paused": bool(state and state.paused),
                "next_slot": (
                    next_slot(graph.schedule, zone, now).isoformat()
                    if graph.schedule is not None
                    else None
                ),
                "timezone": zone.key if scheduled else None,
                "steps": len(graph.steps),
                "max_active_runs": graph.max_active_runs,
                "description": graph.description,
            }
        )
    return rows


def print_one(console: Console, record: Mapping[str, Any], as_json: bool) -> None:
    """One record as a two-column table, or as one JSON object."""
    if as_json:
        _dump(dict(record))
        return
    table = Table(show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in record.items():
        table.add_row(name, _cell(value))
    console.print(table)


def run_progress(run: Mapping[str, Any]) -> RenderableType:
    """A run in progress: a bar of finished steps above the steps' table."""
    total = len(run["steps"])
    finished = sum(
        1
        for s in run["steps"]
        if s["status"] in {"succeeded", "failed", "upstream_failed", "cancelled"}
    )
    line = Text.from_markup(
        f"{finished}/{total} steps finished · run {_styled(run['status'])}"
    )
    return Group(
        ProgressBar(total=max(total, 1), completed=finished, width=40),
        line,
        run_table(run),
    )
