"""Enqueueing plain arq jobs and waiting for them, for the comparisons."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import cast

from arq.connections import ArqRedis, RedisSettings, create_pool


@dataclass(frozen=True)
class ArqVariant:
    """How a plain arq worker is run for a comparison."""

    poll_s: float
    uvloop: bool = False

    @property
    def label(self) -> str:
        return f"arq poll {self.poll_s:g} s" + (", uvloop" if self.uvloop else "")

    @property
    def key(self) -> str:
        return f"arq-{self.poll_s:g}" + ("-uv" if self.uvloop else "")


@asynccontextmanager
async def arq_pool(redis_url: str, queue_name: str) -> AsyncIterator[ArqRedis]:
    """arq's connection pool, enqueueing on ``queue_name`` by default."""
    pool = await create_pool(
        RedisSettings.from_dsn(redis_url), default_queue_name=queue_name
    )
    try:
        yield pool
    finally:
        await pool.aclose()


async def wait_drained(
    pool: ArqRedis, queue_name: str, *, timeout_s: float, every_s: float = 0.005
) -> float:
    """Wait until no job is queued or running; returns when (epoch seconds).

    arq keeps a job in its queue's sorted set until it has finished, so an
    empty set means every job enqueued so far is done.
    """
    async with asyncio.timeout(timeout_s):
        while True:
            if not await pool.zcard(queue_name):
                break
            await asyncio.sleep(every_s)

    return time.time()


async def enqueue_many(pool: ArqRedis, function: str, count: int) -> None:
    """Enqueue ``count`` jobs of ``function`` one by one (arq has no batch call)."""
    for _ in range(count):
        await pool.enqueue_job(function)


async def pop_waiting(pool: ArqRedis, key: str, timeout_s: float) -> bytes:
    """Wait for a job to push to the list ``key``; returns what it pushed.

    Raises:
        TimeoutError: nothing came within ``timeout_s``.
    """
    popped = await cast(
        "Awaitable[list[bytes] | None]",
        pool.blpop([key], timeout=math.ceil(timeout_s)),
    )
    if popped is None:
        msg = (
            f"no arq job pushed to {key} within {timeout_s:.0f} s; "
            "is the arq worker alive?"
        )
        raise TimeoutError(msg)

    return popped[1]
