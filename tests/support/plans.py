"""Runs written straight into the engine's tables, and what plans touch.

For tests of the engine's SQL under the planner's worst beliefs: rows are
inserted as the engine would have left them, without a worker or arq.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import asyncpg


def leaf_key(index: int) -> str:
    """The key of the fan-out's leaf ``index`` (from 1)."""
    return f"leaf{index:05d}"


async def fan_out(
    conn: asyncpg.Connection,
    width: int,
    *,
    root: str,
    leaves: str,
    attempts: bool = False,
) -> uuid.UUID:
    """A running run: a step ``root`` in status ``root``, then ``width`` steps
    in status ``leaves`` that wait for it.

    A succeeded root has an output; queued or running steps are on attempt 1.
    With ``attempts``, every step gets its attempt row in the step's status.
    """
    run_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO runs (id, graph_name, graph_hash, definition, status, trigger,"
        " actor, logical_time, params) VALUES ($1, 'fan', 'h', '{}', 'running',"
        " 'cli', 'test', now(), '{}')",
        run_id,
    )
    await conn.execute(
        "INSERT INTO step_runs (run_id, step_key, task, status, params, attempt,"
        " budget_start, max_attempts, timeout_s, retry_policy, output)"
        " SELECT $1, k.key, 't', k.status, '{}',"
        " CASE WHEN k.status = 'pending' THEN 0 ELSE 1 END, 1, 3, 60, '{}',"
        " CASE WHEN k.status = 'succeeded' THEN '1'::jsonb END"
        " FROM (SELECT 'root' AS key, $2 AS status UNION ALL"
        "       SELECT 'leaf' || lpad(i::text, 5, '0'), $3"
        "       FROM generate_series(1, $4) i) k",
        run_id,
        root,
        leaves,
        width,
    )
    await conn.execute(
        "INSERT INTO step_edges (run_id, upstream, downstream)"
        " SELECT $1, 'root', 'leaf' || lpad(i::text, 5, '0')"
        " FROM generate_series(1, $2) i",
        run_id,
        width,
    )
    if attempts:
        await conn.execute(
            "INSERT INTO attempts (run_id, step_key, attempt, status, job_id,"
            " deliveries, queued_at)"
            " SELECT run_id, step_key, 1, status, 'job', 0, now() FROM step_runs"
            " WHERE run_id = $1",
            run_id,
        )

    return run_id


def top_plan(raw: Any) -> dict[str, Any]:
    """The top node of ``EXPLAIN (FORMAT JSON)``'s answer."""
    plans = json.loads(raw) if isinstance(raw, str) else raw

    return dict(plans[0]["Plan"])


def buffers_touched(node: dict[str, Any]) -> int:
    """Shared buffers a node (and all beneath it, functions included) touched."""
    return int(node["Shared Hit Blocks"]) + int(node["Shared Read Blocks"])
