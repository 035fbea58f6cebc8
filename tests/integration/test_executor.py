"""The arq glue on real Redis: enqueue with local take, batched pick-up, wake-ups.

And the pool's check of a pooled connection, which replaced a ping per checkout.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from arq.connections import ArqRedis, create_pool
from arq.constants import in_progress_key_prefix
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orchestrator.context import StepContext
from orchestrator.db import make_engine
from orchestrator.executor import enqueue_attempts, redis_settings, wake_channel
from orchestrator.graph import Graph, Step, task
from orchestrator.state import QueuedAttempt
from tests.support.engine import Harness, harness, wait_for

RUNNING: set[str] = set()
PEAK: list[int] = [0]


@task("test_exec_noop")
async def noop(ctx: StepContext) -> dict[str, str]:
    return {"step": ctx.step_key}


@task("test_exec_overlap")
async def overlap(ctx: StepContext) -> None:
    RUNNING.add(ctx.step_key)
    PEAK[0] = max(PEAK[0], len(RUNNING))
    await asyncio.sleep(0.02)
    RUNNING.discard(ctx.step_key)


def _graphs() -> dict[str, Graph]:
    chain = Graph(
        "exec_chain",
        [Step(f"s{i}", noop) for i in range(8)],
        [(f"s{i}", f"s{i + 1}") for i in range(7)],
    )
    wide = Graph("exec_wide", [Step(f"w{i:03d}", overlap) for i in range(250)])
    one = Graph("exec_one", [Step("only", noop)])
    return {g.name: g for g in (chain, wide, one)}


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness(_graphs(), db_url, redis_url, queue_name) as hh:
        yield hh


@pytest.fixture
async def pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    redis = await create_pool(redis_settings(redis_url))
    yield redis
    await redis.aclose()


async def _run_status(h: Harness, run_id: uuid.UUID) -> str:
    async with h.client.sessions() as session:
        status = await session.scalar(
            text("SELECT status FROM runs WHERE id = :r"), {"r": run_id}
        )
    return str(status)


async def _finished(h: Harness, run_id: uuid.UUID) -> bool:
    return await _run_status(h, run_id) in {"succeeded", "failed", "cancelled"}


async def test_enqueue_takes_due_jobs_and_wakes_others_for_the_rest(
    pool: ArqRedis, queue_name: str
) -> None:
    run_id = uuid.uuid4()
    due = [QueuedAttempt(run_id, key, 1) for key in ("a", "b", "c")]
    later = QueuedAttempt(run_id, "d", 1, defer_s=60)
    pubsub = pool.pubsub()
    await pubsub.subscribe(wake_channel(queue_name))
    await pubsub.get_message(timeout=1)  # the subscription's confirmation

    created, taken = await enqueue_attempts(
        pool, queue_name, [*due, later], take=2, in_progress_ms=60_000
    )

    assert created == 4
    assert [job_id for job_id, _ in taken] == [due[0].job_id, due[1].job_id]
    for item in due[:2]:
        ttl = await pool.pttl(in_progress_key_prefix + item.job_id)
        assert 0 < ttl <= 60_000
    for item in (due[2], later):
        assert not await pool.exists(in_progress_key_prefix + item.job_id)
    assert await pool.zcard(queue_name) == 4
    message = await pubsub.get_message(timeout=1)
    assert message is not None
    assert message["data"] == b"2"  # four new jobs, two taken here

    again, taken_again = await enqueue_attempts(
        pool, queue_name, due, take=3, in_progress_ms=60_000
    )
    assert (again, taken_again) == (0, [])
    assert await pubsub.get_message(timeout=0.3) is None
    await pubsub.aclose()


async def test_enqueue_never_takes_a_deferred_job(
    pool: ArqRedis, queue_name: str
) -> None:
    retry = QueuedAttempt(uuid.uuid4(), "x", 2, defer_s=5)

    created, taken = await enqueue_attempts(
        pool, queue_name, [retry], take=1, in_progress_ms=60_000
    )

    assert (created, taken) == (1, [])
    assert not await pool.exists(in_progress_key_prefix + retry.job_id)


async def test_chain_successors_run_on_the_worker_that_finished_the_step(
    h: Harness,
) -> None:
    await h.start_worker(worker_id="first", concurrency=4)
    await h.start_worker(worker_id="second", concurrency=4)
    run_id = await h.run("exec_chain")
    await wait_for(lambda: _finished(h, run_id))

    assert await _run_status(h, run_id) == "succeeded"
    async with h.client.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT step_key, worker_id, deliveries FROM attempts"
                " WHERE run_id = :r ORDER BY step_key"
            ),
            {"r": run_id},
        )
        workers = {key: (worker, deliveries) for key, worker, deliveries in rows}
    assert len(workers) == 8
    assert {deliveries for _, deliveries in workers.values()} == {1}
    assert len({worker for worker, _ in workers.values()}) == 1


async def test_job_in_progress_elsewhere_is_left_alone(
    h: Harness, pool: ArqRedis
) -> None:
    await h.start_worker(poll_delay=timedelta(seconds=0.1))
    run_id = await h.run("exec_one")
    await wait_for(lambda: _finished(h, run_id))
    held = QueuedAttempt(uuid.uuid4(), "only", 1)
    await pool.psetex(in_progress_key_prefix + held.job_id, 60_000, b"1")

    await enqueue_attempts(pool, h.queue_name, [held])
    await asyncio.sleep(0.5)  # five polls

    assert await pool.zscore(h.queue_name, held.job_id) is not None
    assert await pool.exists(in_progress_key_prefix + held.job_id)


async def test_backlog_beyond_one_poll_runs_without_waiting_for_the_poll(
    h: Harness,
) -> None:
    """250 ready steps, 3 slots, 100 ids read per poll and a one-minute poll:
    only the wake-up on each freed slot can finish the run in time."""
    PEAK[0] = 0
    await h.start_worker(concurrency=3, poll_delay=timedelta(seconds=60))
    await asyncio.sleep(0.3)  # past the worker's first poll
    run_id = await h.run("exec_wide")

    await wait_for(lambda: _finished(h, run_id), timeout_s=45)

    assert await _run_status(h, run_id) == "succeeded"
    assert PEAK[0] == 3


async def test_pool_replaces_a_connection_the_server_closed(db_url: str) -> None:
    engine = make_engine(db_url, pool_size=1)
    try:
        async with engine.connect() as conn:
            first = await conn.scalar(text("SELECT pg_backend_pid()"))
        dsn = make_url(db_url).set(drivername="postgresql")
        admin = await asyncpg.connect(dsn.render_as_string(hide_password=False))
        try:
            await admin.execute("SELECT pg_terminate_backend($1)", first)
        finally:
            await admin.close()
        await asyncio.sleep(0.2)  # the client reads the server's goodbye

        async with engine.connect() as conn:
            second = await conn.scalar(text("SELECT pg_backend_pid()"))

        assert second != first
    finally:
        await engine.dispose()


async def test_step_key_with_quotes_and_backslashes_runs(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """The lock is sent as literals; a key that would break naive quoting runs."""
    key = "it's a \\' test \\\\ E'x'; --"
    graph = Graph("exec_quoted", [Step(key, noop)])
    async with harness({graph.name: graph}, db_url, redis_url, queue_name) as h:
        await h.start_worker()
        run_id = await h.run("exec_quoted")
        await wait_for(lambda: _finished(h, run_id))

        assert await _run_status(h, run_id) == "succeeded"
        steps = await h.steps(run_id)
    assert steps[key]["output"] == {"step": key}
