"""Reading run history: runs with their steps, attempts and durations."""

from __future__ import annotations

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.errors import RunNotFoundError

_RUN_COLUMNS = """
    r.id, r.graph_name, r.status, r.trigger, r.actor, r.logical_time, r.trace_id,
    r.created_at, r.started_at, r.finished_at, r.params, r.graph_hash
"""


def _run_dict(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "graph": row.graph_name,
        "status": row.status,
        "trigger": row.trigger,
        "actor": row.actor,
        "logical_time": _iso(row.logical_time),
        "trace_id": row.trace_id,
        "created_at": _iso(row.created_at),
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "duration_s": _duration(row.started_at, row.finished_at),
        "params": row.params,
        "graph_hash": row.graph_hash,
    }


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


_STEPS = text(
    """
    SELECT s.run_id, s.step_key, s.task, s.status, s.attempt, s.budget_start,
           s.started_at, s.finished_at, s.expanded_from, s.output,
           (SELECT count(*) FROM attempts a WHERE a.run_id = s.run_id
              AND a.step_key = s.step_key AND a.status <> 'queued') AS attempts,
           (SELECT a.error_message FROM attempts a WHERE a.run_id = s.run_id
              AND a.step_key = s.step_key AND a.error_message IS NOT NULL
              ORDER BY a.attempt DESC LIMIT 1) AS last_error
    FROM step_runs s WHERE s.run_id = ANY(:runs)
    ORDER BY s.run_id, s.started_at NULLS LAST, s.step_key
    """
)


def _step_dict(row: Any, with_output: bool) -> dict[str, Any]:
    error = row.last_error if row.status in {"failed", "upstream_failed"} else None
    if row.status == "upstream_failed":
        error = "a predecessor failed"
    step = {
        "key": row.step_key,
        "task": row.task,
        "status": row.status,
        "attempts": int(row.attempts),
        "error": error if row.status != "succeeded" else None,
        "started_at": _iso(row.started_at),
        "finished_at": _iso(row.finished_at),
        "duration_s": _duration(row.started_at, row.finished_at),
        "expanded_from": row.expanded_from,
    }
    if with_output:
        step["output"] = row.output
    return step


async def runs_with_steps(
    session: AsyncSession, run_ids: list[uuid.UUID], *, with_output: bool = False
) -> dict[str, list[dict[str, Any]]]:
    """Each run's steps, ordered by start time."""
    steps: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if run_ids:
        for row in await session.execute(_STEPS, {"runs": run_ids}):
            steps[str(row.run_id)].append(_step_dict(row, with_output))
    return steps


async def list_runs(
    session: AsyncSession,
    *,
    graph: str | None = None,
    status: str | None = None,
    limit: int = 50,
    before: tuple[datetime, uuid.UUID] | None = None,
    with_steps: bool = True,
) -> list[dict[str, Any]]:
    """Runs, newest first, keyset-paginated on (created_at, id)."""
    clauses: list[str] = ["TRUE"]
    params: dict[str, Any] = {"limit": limit}
    if graph:
        clauses.append("r.graph_name = :graph")
        params["graph"] = graph
    if status:
        clauses.append("r.status = :status")
        params["status"] = status
    if before is not None:
        clauses.append("(r.created_at, r.id) < (:b_at, :b_id)")
        params.update({"b_at": before[0], "b_id": before[1]})
    query = text(
        f"SELECT {_RUN_COLUMNS} FROM runs r WHERE {' AND '.join(clauses)}"
        " ORDER BY r.created_at DESC, r.id DESC LIMIT :limit"
    )
    rows = (await session.execute(query, params)).all()
    runs = [_run_dict(r) for r in rows]
    if with_steps:
        steps = await runs_with_steps(session, [r.id for r in rows])
        for run in runs:
            run["steps"] = steps.get(run["id"], [])
    return runs


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any]:
    """One run with its steps (outputs included)."""
    row = (
        await session.execute(
            text(f"SELECT {_RUN_COLUMNS} FROM runs r WHERE r.id = :id"),
            {"id": run_id},
        )
    ).first()
    if row is None:
        raise RunNotFoundError(run_id)
    run = _run_dict(row)
    run["steps"] = (await runs_with_steps(session, [run_id], with_output=True)).get(
        str(run_id), []
    )
    return run


async def get_attempts(
    session: AsyncSession, run_id: uuid.UUID, step_key: str
) -> list[dict[str, Any]]:
    """Every attempt of one step, with its error and traceback."""
    rows = await session.execute(
        text(
            """
            SELECT attempt, status, job_id, worker_id, deliveries, queued_at,
                   started_at, finished_at, error_type, error_message, traceback
            FROM attempts WHERE run_id = :run AND step_key = :key ORDER BY attempt
            """
        ),
        {"run": run_id, "key": step_key},
    )
    return [
        {
            "attempt": r.attempt,
            "status": r.status,
            "job_id": r.job_id,
            "worker_id": r.worker_id,
            "deliveries": r.deliveries,
            "queued_at": _iso(r.queued_at),
            "started_at": _iso(r.started_at),
            "finished_at": _iso(r.finished_at),
            "duration_s": _duration(r.started_at, r.finished_at),
            "error_type": r.error_type,
            "error_message": r.error_message,
            "traceback": r.traceback,
        }
        for r in rows
    ]


# From each of the run's steps (its primary key's prefix) to the edges it
# leads (step_edges' primary key): no index of step_edges is led by run_id,
# so that a step's own lookups have only plans by key (migration 0008).
_RUN_EDGES = text(
    """
    SELECT e.upstream, e.downstream
    FROM step_runs s
    JOIN step_edges e ON e.upstream = s.step_key AND e.run_id = s.run_id
    WHERE s.run_id = :run
    ORDER BY e.upstream, e.downstream
    """
)


async def run_edges(session: AsyncSession, run_id: uuid.UUID) -> list[tuple[str, str]]:
    """Every edge of a run, static and expanded, as (upstream, downstream)."""
    rows = await session.execute(_RUN_EDGES, {"run": run_id})

    return [(row.upstream, row.downstream) for row in rows]
