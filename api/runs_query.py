"""Run listings for the API: filters and keyset pages on (created_at, id).

Runs are listed newest first. The next page starts strictly below the last
row's ``(created_at, id)``, which the ``ix_runs_created`` (and, filtered by
graph, ``ix_runs_graph_created``) index serves directly, so a deep page costs
what the first one does.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.errors import RunNotFoundError

API = "/api/v1"

_COLUMNS = """
    r.id, r.graph_name, r.status, r.trigger, r.actor, r.logical_time, r.trace_id,
    r.created_at, r.started_at, r.finished_at, r.params
"""


@dataclass(frozen=True)
class RunFilter:
    """What ``GET /runs`` narrows the history to; bounds are [from, to)."""

    graph: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    logical_time_from: datetime | None = None
    logical_time_to: datetime | None = None

    def clauses(self) -> tuple[list[str], dict[str, Any]]:
        clauses: list[str] = []
        params: dict[str, Any] = {}
        for column, op, name in (
            ("graph_name", "=", "graph"),
            ("status", "=", "status"),
            ("created_at", ">=", "created_from"),
            ("created_at", "<", "created_to"),
            ("logical_time", ">=", "logical_time_from"),
            ("logical_time", "<", "logical_time_to"),
        ):
            value = getattr(self, name)
            if value is not None:
                clauses.append(f"r.{column} {op} :{name}")
                params[name] = value
        return clauses, params


def run_urls(run_id: str) -> dict[str, str]:
    return {
        "url": f"{API}/runs/{run_id}",
        "picture_url": f"{API}/runs/{run_id}/graph.svg",
        "page_url": f"{API}/runs/{run_id}/graph",
    }


def _duration(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def _summary(row: Any, counts: dict[str, int]) -> dict[str, Any]:
    run_id = str(row.id)
    urls = run_urls(run_id)
    return {
        "id": run_id,
        "graph": row.graph_name,
        "status": row.status,
        "trigger": row.trigger,
        "actor": row.actor,
        "logical_time": row.logical_time,
        "trace_id": row.trace_id,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "duration_s": _duration(row.started_at, row.finished_at),
        "params": row.params or {},
        "step_counts": counts,
        "url": urls["url"],
        "picture_url": urls["picture_url"],
    }


async def _step_counts(
    session: AsyncSession, run_ids: list[uuid.UUID]
) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if run_ids:
        rows = await session.execute(
            text(
                "SELECT run_id, status, count(*) AS n FROM step_runs"
                " WHERE run_id = ANY(:ids) GROUP BY run_id, status"
            ),
            {"ids": run_ids},
        )
        for row in rows:
            counts[str(row.run_id)][row.status] = int(row.n)
    return counts


async def list_run_summaries(
    session: AsyncSession,
    where: RunFilter,
    *,
    limit: int,
    before: tuple[datetime, uuid.UUID] | None = None,
) -> list[dict[str, Any]]:
    """Up to ``limit`` runs newest first, strictly below ``before``."""
    clauses, params = where.clauses()
    if before is not None:
        clauses.append("(r.created_at, r.id) < (:b_at, :b_id)")
        params.update(b_at=before[0], b_id=before[1])
    condition = " AND ".join(clauses) or "TRUE"
    rows = (
        await session.execute(
            text(
                f"SELECT {_COLUMNS} FROM runs r WHERE {condition}"
                " ORDER BY r.created_at DESC, r.id DESC LIMIT :limit"
            ),
            {**params, "limit": limit},
        )
    ).all()
    counts = await _step_counts(session, [r.id for r in rows])

    return [_summary(r, counts.get(str(r.id), {})) for r in rows]


async def run_summary(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any]:
    """One run as listings show it.

    Raises:
        RunNotFoundError: no run has this id.
    """
    row = (
        await session.execute(
            text(f"SELECT {_COLUMNS} FROM runs r WHERE r.id = :id"), {"id": run_id}
        )
    ).first()
    if row is None:
        raise RunNotFoundError(run_id)
    counts = await _step_counts(session, [run_id])

    return _summary(row, counts.get(str(run_id), {}))
