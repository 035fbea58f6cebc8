"""A step's own statements read as much in a wide run as in a narrow one.

Every step makes the same three statements: the claim, the lock that begins
its transaction, and the completion. Their plans must stay lookups by key
whatever PostgreSQL believes about the tables, because a worker keeps them for
the life of its connections: plans made while the tables were nearly empty
(a worker's first steps on a new database, with no ``ANALYZE`` since), or
statistics gathered before the current run existed (its rows then look like
none). A plan that reads "the rows of run X" and filters them makes each step
cost in proportion to the run's width, and a run quadratic in it.

The tests count shared buffers each statement touches (``EXPLAIN (ANALYZE,
BUFFERS)``, functions included) for one leaf of a 30-leaf run and of a
3,000-leaf run, and ask that the wide run's be no more than a few index pages
more.
"""

from __future__ import annotations

import uuid

import asyncpg

from orchestrator.state import _CLAIM
from tests.support.plans import buffers_touched, fan_out, leaf_key, top_plan

NARROW, WIDE = 30, 3_000
STATEMENTS = {
    "claim": _CLAIM,
    "lock": "SELECT * FROM rr_lock_step($1, $2, $3)",
    "complete": "SELECT * FROM rr_complete_step($1, $2, $3, '{}'::jsonb)",
}


async def _fan_out(conn: asyncpg.Connection, width: int) -> uuid.UUID:
    """A running run: a succeeded root and ``width`` queued leaves after it."""
    return await fan_out(conn, width, root="succeeded", leaves="queued", attempts=True)


async def _prepare(conn: asyncpg.Connection) -> None:
    for name, sql in STATEMENTS.items():
        await conn.execute(f"PREPARE {name} AS {sql}")


def _execute(name: str, run_id: uuid.UUID, key: str) -> str:
    args = f"'{run_id}', '{key}', 1" + (", 'w'" if name == "claim" else "")
    return f"EXECUTE {name}({args})"


class _RolledBackError(Exception):
    pass


async def _buffers(conn: asyncpg.Connection, width: int) -> dict[str, int]:
    """Buffers each statement touches for the middle leaf of a new run of
    ``width`` leaves; the statements' writes are rolled back."""
    run_id = await _fan_out(conn, width)
    key = leaf_key(width // 2)
    touched: dict[str, int] = {}
    try:
        async with conn.transaction():
            for name in STATEMENTS:
                plan = top_plan(
                    await conn.fetchval(
                        "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
                        + _execute(name, run_id, key)
                    )
                )
                assert plan["Actual Rows"] >= 1, f"{name} found nothing for {key}"
                touched[name] = buffers_touched(plan)
            raise _RolledBackError
    except _RolledBackError:
        pass

    return touched


async def _warm_up(conn: asyncpg.Connection) -> None:
    """Runs claimed, locked and completed on the near-empty tables, so every
    plan the statements use is made (and kept) now: one of a single step (no
    edges yet, as a worker's first run often is), then one of a root and a
    leaf."""
    single = await fan_out(conn, 0, root="queued", leaves="queued", attempts=True)
    for name in STATEMENTS:
        await conn.execute(_execute(name, single, "root"))
    pair = await _fan_out(conn, 1)
    for name in STATEMENTS:
        await conn.execute(_execute(name, pair, leaf_key(1)))


def _assert_flat(narrow: dict[str, int], wide: dict[str, int]) -> None:
    grown = {
        name: (narrow[name], wide[name])
        for name in STATEMENTS
        if wide[name] > narrow[name] + 12
    }
    assert not grown, f"buffers grew with the run's width (narrow, wide): {grown}"


async def test_plans_made_on_empty_tables_stay_lookups_by_key(
    conn: asyncpg.Connection,
) -> None:
    """Generic plans made by a worker's first steps on a new database, never
    analyzed, read no more for a leaf of 3,000 than for a leaf of 30."""
    await conn.execute("SET plan_cache_mode = force_generic_plan")
    await _prepare(conn)
    await _warm_up(conn)

    narrow = await _buffers(conn, NARROW)
    wide = await _buffers(conn, WIDE)

    _assert_flat(narrow, wide)


async def test_statistics_of_an_earlier_run_keep_plans_by_key(
    conn: asyncpg.Connection,
) -> None:
    """After ANALYZE saw only an earlier run, a new run's rows look like none;
    a leaf of 3,000 still reads no more than a leaf of 30."""
    await _fan_out(conn, WIDE)
    await conn.execute("ANALYZE")
    await _prepare(conn)

    narrow = await _buffers(conn, NARROW)
    wide = await _buffers(conn, WIDE)

    _assert_flat(narrow, wide)
