"""Readiness on a database without planner statistics stays linear in rows read.

A run that was just created has no statistics, and PostgreSQL then takes "the
rows of run X" for one row. These tests count the rows a plan reads (from
``EXPLAIN ANALYZE``), not the time it takes: a plan that joins by run alone
reads the square or the cube of the run's size.
"""

from __future__ import annotations

import importlib
import json
import re
import uuid
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from orchestrator.sweep import _READY_PENDING

WIDTH = 1_000


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    dsn = make_url(db_url).set(drivername="postgresql")
    connection = await asyncpg.connect(dsn.render_as_string(hide_password=False))
    yield connection
    await connection.close()


async def _fan_out(conn: asyncpg.Connection, root_status: str) -> uuid.UUID:
    """A run of a root and WIDTH pending leaves that wait for it."""
    run_id = uuid.uuid4()
    await conn.execute(
        "INSERT INTO runs (id, graph_name, graph_hash, definition, status, trigger,"
        " actor, logical_time, params) VALUES ($1, 'fan', 'h', '{}', 'running',"
        " 'cli', 'test', now(), '{}')",
        run_id,
    )
    await conn.execute(
        "INSERT INTO step_runs (run_id, step_key, task, status, params, attempt,"
        " budget_start, max_attempts, timeout_s, retry_policy)"
        " SELECT $1, k, 't', CASE WHEN k = 'root' THEN $2 ELSE 'pending' END,"
        " '{}', 0, 1, 3, 60, '{}'"
        " FROM (SELECT 'root' AS k UNION ALL"
        "       SELECT 'leaf' || i FROM generate_series(1, $3) i) keys",
        run_id,
        root_status,
        WIDTH,
    )
    await conn.execute(
        "INSERT INTO step_edges (run_id, upstream, downstream)"
        " SELECT $1, 'root', 'leaf' || i FROM generate_series(1, $2) i",
        run_id,
        WIDTH,
    )

    return run_id


def _rows_read(plan: dict[str, Any]) -> int:
    """Rows produced by every scan node of a plan, over all its loops."""
    node = plan["Plan"] if "Plan" in plan else plan
    own = 0
    if "Scan" in node["Node Type"]:
        own = int(node["Actual Rows"]) * int(node["Actual Loops"])
    children = node.get("Plans", [])

    return own + sum(_rows_read(child) for child in children)


async def _explain(conn: asyncpg.Connection, query: str, *args: Any) -> int:
    raw = await conn.fetchval(f"EXPLAIN (ANALYZE, FORMAT JSON) {query}", *args)
    plans = json.loads(raw) if isinstance(raw, str) else raw

    return _rows_read(plans[0])


async def test_readiness_check_reads_each_edge_and_step_a_few_times(
    conn: asyncpg.Connection,
) -> None:
    """The check rr_queue_ready makes for 1,000 candidates reads rows in
    proportion to them (it read 10^9 rows before migration 0007)."""
    migration = importlib.import_module("migrations.versions.0007_readiness_by_key")
    run_id = await _fan_out(conn, "succeeded")
    keys = [f"leaf{i}" for i in range(1, WIDTH + 1)]
    blocked = re.sub(r"\bp_run\b", "$1", migration.BLOCKED.format(key="c.key"))
    query = f"SELECT c.key FROM unnest($2::text[]) AS c(key) WHERE NOT {blocked}"

    ready = await conn.fetch(query, run_id, keys)
    read = await _explain(conn, query, run_id, keys)

    assert len(ready) == WIDTH
    assert read <= 5 * WIDTH


async def test_queue_ready_queues_a_wide_fan_out_once(conn: asyncpg.Connection) -> None:
    """All 1,000 leaves of a succeeded root are queued once, each with attempt 1."""
    run_id = await _fan_out(conn, "succeeded")
    keys = [f"leaf{i}" for i in range(1, WIDTH + 1)]

    async with conn.transaction():
        first = await conn.fetch("SELECT * FROM rr_queue_ready($1, $2)", run_id, keys)
    async with conn.transaction():
        again = await conn.fetch("SELECT * FROM rr_queue_ready($1, $2)", run_id, keys)

    assert sorted(r["step_key"] for r in first) == sorted(keys)
    assert {r["attempt"] for r in first} == {1}
    assert again == []
    queued = await conn.fetchval(
        "SELECT count(*) FROM attempts WHERE run_id = $1 AND status = 'queued'", run_id
    )
    assert queued == WIDTH


async def test_sweep_finds_no_ready_step_behind_a_running_root(
    conn: asyncpg.Connection,
) -> None:
    """Behind a root still running, the sweep's query finds nothing ready, reading
    each leaf's one edge and its root once."""
    await _fan_out(conn, "running")

    found = await conn.fetch(str(_READY_PENDING))
    read = await _explain(conn, str(_READY_PENDING))

    assert found == []
    assert read <= 5 * WIDTH
