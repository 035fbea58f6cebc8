"""The arq glue on real Redis: enqueue with local take, batched pick-up, wake-ups.

And the pool's check of a pooled connection, which replaced a ping per checkout.
"""

from __future__ import annotations

import asyncio
import pickle
import signal
import time
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest
from arq.connections import ArqRedis, create_pool
from arq.constants import abort_jobs_ss, in_progress_key_prefix, job_key_prefix
from sqlalchemy import text
from sqlalchemy.engine import make_url

from orchestrator.context import StepContext
from orchestrator.db import make_engine
from orchestrator.executor import enqueue_attempts, redis_settings, wake_channel
from orchestrator.graph import Graph, Step, task
from orchestrator.state import QueuedAttempt
from orchestrator.sweep import sweep
from tests.support.engine import Harness, harness, wait_for

RUNNING: set[str] = set()
PEAK: list[int] = [0]
# Attempts of "test_exec_hold" that have started, by run id; each waits for its
# run's event (or to be cancelled).
HELD: dict[str, asyncio.Event] = {}


@task("test_exec_noop")
async def noop(ctx: StepContext) -> dict[str, str]:
    return {"step": ctx.step_key}


@task("test_exec_overlap")
async def overlap(ctx: StepContext) -> None:
    RUNNING.add(ctx.step_key)
    PEAK[0] = max(PEAK[0], len(RUNNING))
    await asyncio.sleep(0.02)
    RUNNING.discard(ctx.step_key)


@task("test_exec_hold")
async def hold(ctx: StepContext) -> dict[str, int]:
    release = HELD.setdefault(str(ctx.run_id), asyncio.Event())
    await release.wait()
    return {"attempt": ctx.attempt}


def _graphs() -> dict[str, Graph]:
    chain = Graph(
        "exec_chain",
        [Step(f"s{i}", noop) for i in range(8)],
        [(f"s{i}", f"s{i + 1}") for i in range(7)],
    )
    wide = Graph("exec_wide", [Step(f"w{i:03d}", overlap) for i in range(250)])
    one = Graph("exec_one", [Step("only", noop)], max_active_runs=10)
    held = Graph("exec_hold", [Step("hold", hold)], max_active_runs=10)
    return {g.name: g for g in (chain, wide, one, held)}


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
    await pubsub.aclose()  # type: ignore[no-untyped-call]


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


async def _attempt_rows(h: Harness, run_id: uuid.UUID) -> list[tuple[Any, ...]]:
    async with h.client.sessions() as session:
        rows = await session.execute(
            text(
                "SELECT attempt, status, deliveries, worker_id FROM attempts"
                " WHERE run_id = :r ORDER BY attempt"
            ),
            {"r": run_id},
        )
        return [tuple(row) for row in rows]


async def test_slot_takes_the_next_job_when_its_attempt_ends(
    h: Harness, pool: ArqRedis
) -> None:
    """With one slot and no poll for a minute, the call that ends an attempt's
    job takes the next due job, and the ended job leaves nothing in Redis."""
    worker = await h.start_worker(concurrency=1, poll_delay=timedelta(seconds=60))
    await asyncio.sleep(0.3)  # past the worker's first poll
    first = await h.run("exec_hold")
    await wait_for(lambda: str(first) in HELD)
    second = await h.run("exec_one")  # queued behind the held attempt

    HELD[str(first)].set()
    await wait_for(lambda: _finished(h, second), timeout_s=10)

    assert await _run_status(h, first) == "succeeded"
    assert await _run_status(h, second) == "succeeded"
    job_id = f"rr:{first}:1:hold"
    assert not await pool.exists(job_key_prefix + job_id)
    assert not await pool.exists(in_progress_key_prefix + job_id)
    assert await pool.zscore(h.queue_name, job_id) is None
    assert worker.jobs_complete == 2


async def test_aborted_attempt_is_cancelled_and_its_slot_goes_on(h: Harness) -> None:
    """Cancelling a run aborts its running attempt through arq's abort; the slot
    then runs the next due job."""
    await h.start_worker(concurrency=1, poll_delay=timedelta(seconds=0.1))
    held = await h.run("exec_hold")
    await wait_for(lambda: str(held) in HELD)
    after = await h.run("exec_one")

    await h.client.cancel(held, actor="ops")
    await wait_for(lambda: _finished(h, after), timeout_s=10)

    assert await _run_status(h, after) == "succeeded"
    assert [row[1] for row in await _attempt_rows(h, held)] == ["cancelled"]
    assert not HELD[str(held)].is_set()


async def test_shutdown_leaves_a_running_attempt_for_another_worker(
    h: Harness, pool: ArqRedis
) -> None:
    """A worker shutting down mid-attempt frees the job at once; another worker
    runs the same attempt again (a second delivery, not a new attempt)."""
    first = await h.start_worker(worker_id="first", concurrency=2)
    run_id = await h.run("exec_hold")
    await wait_for(lambda: str(run_id) in HELD)
    job_id = f"rr:{run_id}:1:hold"

    first.stopping = True
    first.handle_sig(signal.SIGTERM)
    await wait_for(lambda: _not_in_progress(pool, job_id), timeout_s=5)
    assert await pool.zscore(h.queue_name, job_id) is not None
    HELD[str(run_id)].set()
    await h.start_worker(worker_id="second")
    await wait_for(lambda: _finished(h, run_id), timeout_s=10)

    assert await _run_status(h, run_id) == "succeeded"
    assert await _attempt_rows(h, run_id) == [(1, "succeeded", 2, "second")]


async def _not_in_progress(pool: ArqRedis, job_id: str) -> bool:
    return not await pool.exists(in_progress_key_prefix + job_id)


UNPICKLED: list[str] = []


def _record_unpickling(marker: str) -> str:
    UNPICKLED.append(marker)
    return marker


class _Planted:
    """Unpickling this calls ``_record_unpickling``: what an attacker would plant."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_record_unpickling, ("unpickled",))


async def test_cancel_never_unpickles_what_redis_holds(
    h: Harness, pool: ArqRedis
) -> None:
    """Aborting a running attempt reads nothing back from its arq job: a pickle
    planted in the job's key is never loaded, and the attempt is cancelled."""
    await h.start_worker(concurrency=1, poll_delay=timedelta(seconds=0.1))
    run_id = await h.run("exec_hold")
    await wait_for(lambda: str(run_id) in HELD)
    await pool.set(job_key_prefix + f"rr:{run_id}:1:hold", pickle.dumps(_Planted()))

    await h.client.cancel(run_id, actor="ops")
    await wait_for(lambda: _cancelled_attempts(h, run_id), timeout_s=10)

    assert UNPICKLED == []
    assert await _run_status(h, run_id) == "cancelled"


async def _cancelled_attempts(h: Harness, run_id: uuid.UUID) -> bool:
    return [row[1] for row in await _attempt_rows(h, run_id)] == ["cancelled"]


async def test_sweep_drops_spent_aborts_and_keeps_fresh_ones(
    h: Harness, pool: ArqRedis
) -> None:
    """An abort older than a minute (its job had ended) leaves arq's abort set;
    one asked for just now stays for the worker running its job."""
    stale, fresh = f"{h.queue_name}:stale", f"{h.queue_name}:fresh"
    now_ms = int(time.time() * 1000)
    await pool.zadd(abort_jobs_ss, {stale: now_ms - 61_000, fresh: now_ms})
    try:
        await sweep(h.client.sessions, pool, h.queue_name, grace=timedelta(seconds=30))

        assert await pool.zscore(abort_jobs_ss, stale) is None
        assert await pool.zscore(abort_jobs_ss, fresh) is not None
    finally:
        await pool.zrem(abort_jobs_ss, stale, fresh)
