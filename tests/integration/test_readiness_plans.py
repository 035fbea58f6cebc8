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
from typing import Any

import asyncpg

from orchestrator.sweep import _READY_PENDING
from tests.support.plans import buffers_touched, fan_out, leaf_key, top_plan

WIDTH = 1_000


async def _fan_out(conn: asyncpg.Connection, root_status: str) -> uuid.UUID:
    """A run of a root and WIDTH pending leaves that wait for it."""
    return await fan_out(conn, WIDTH, root=root_status, leaves="pending")


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
    keys = [leaf_key(i) for i in range(1, WIDTH + 1)]
    blocked = re.sub(r"\bp_run\b", "$1", migration.BLOCKED.format(key="c.key"))
    query = f"SELECT c.key FROM unnest($2::text[]) AS c(key) WHERE NOT {blocked}"

    ready = await conn.fetch(query, run_id, keys)
    read = await _explain(conn, query, run_id, keys)

    assert len(ready) == WIDTH
    assert read <= 5 * WIDTH


async def test_queue_ready_stays_by_key_with_statistics_of_an_earlier_run(
    conn: asyncpg.Connection,
) -> None:
    """Statistics gathered while only an earlier run existed make the new run's
    rows look like none; queueing its 1,000 leaves still touches a few dozen
    buffers per leaf (before migration 0008 it scanned the run's edges for
    every leaf: 3 million buffers)."""
    await _fan_out(conn, "succeeded")
    await conn.execute("ANALYZE")
    run_id = await _fan_out(conn, "succeeded")
    keys = [leaf_key(i) for i in range(1, WIDTH + 1)]

    async with conn.transaction():
        raw = await conn.fetchval(
            "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)"
            " SELECT * FROM rr_queue_ready($1, $2)",
            run_id,
            keys,
        )
        queued = await conn.fetchval(
            "SELECT count(*) FROM step_runs WHERE run_id = $1 AND status = 'queued'",
            run_id,
        )

    assert queued == WIDTH
    assert buffers_touched(top_plan(raw)) <= 50 * WIDTH


async def test_queue_ready_queues_a_wide_fan_out_once(conn: asyncpg.Connection) -> None:
    """All 1,000 leaves of a succeeded root are queued once, each with attempt 1."""
    run_id = await _fan_out(conn, "succeeded")
    keys = [leaf_key(i) for i in range(1, WIDTH + 1)]

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
