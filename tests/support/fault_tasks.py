"""Tasks for fault tests: a step that writes, then waits on a barrier in Redis."""

from __future__ import annotations

import asyncio
import os
import random
from datetime import timedelta

import redis.asyncio as aioredis
from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import Graph, RetryPolicy, Step, task

POLICY = RetryPolicy(max_attempts=5, backoff=timedelta(milliseconds=100))


@task("fault_write")
async def fault_write(ctx: StepContext) -> dict[str, object]:
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )
    return {"attempt": ctx.attempt}


@task("fault_barrier")
async def fault_barrier(ctx: StepContext) -> dict[str, object]:
    """Write, then on the first attempt hold the transaction until released."""
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )
    await ctx.session.flush()
    if ctx.attempt == 1:
        client = aioredis.from_url(os.environ["FAULT_REDIS_URL"])  # type: ignore[no-untyped-call]
        try:
            await client.set(f"fault:reached:{ctx.run_id}", os.getpid())
            while not await client.exists(f"fault:release:{ctx.run_id}"):  # noqa: ASYNC110 - the barrier lives in another process
                await asyncio.sleep(0.05)
        finally:
            await client.aclose()
    return {"attempt": ctx.attempt}


GRAPH = Graph(
    "fault_chain",
    [
        Step("first", fault_write, retry=POLICY),
        # A one-hour timeout: recovery must not wait for it (arq's own lock would
        # last the longest timeout plus 10 s).
        Step("held", fault_barrier, retry=POLICY, timeout=timedelta(hours=1)),
        Step("last", fault_write, retry=POLICY),
    ],
    [("first", "held"), ("held", "last")],
)


@task("fault_slow")
async def fault_slow(ctx: StepContext) -> dict[str, object]:
    """Write, then take a while, so an outage can fall inside the step."""
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )
    await asyncio.sleep(float(ctx.params.get("seconds", 3)))
    return {"attempt": ctx.attempt}


SLOW_GRAPH = Graph(
    "outage_chain",
    [
        Step("first", fault_write, retry=POLICY),
        Step("slow", fault_slow, retry=POLICY, params={"seconds": 3}),
        Step("last", fault_write, retry=POLICY),
    ],
    [("first", "slow"), ("slow", "last")],
)


@task("fault_work")
async def fault_work(ctx: StepContext) -> dict[str, object]:
    """A domain write, then a short random pause inside the transaction."""
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )
    await asyncio.sleep(random.uniform(0.05, 0.4))
    return {"attempt": ctx.attempt, "inputs": sorted(ctx.inputs)}


MANY = RetryPolicy(max_attempts=20, backoff=timedelta(milliseconds=50))
DIAMOND_GRAPH = Graph(
    "fault_diamond",
    [Step(k, fault_work, retry=MANY) for k in ("a", "b", "c", "d", "e", "f")],
    [("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "e"), ("d", "f")],
    max_active_runs=1000,
)
