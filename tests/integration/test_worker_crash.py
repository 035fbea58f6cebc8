"""A worker killed with SIGKILL inside a step's transaction loses nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.support.engine import Harness, harness, wait_for
from tests.support.fault_tasks import GRAPH
from tests.support.processes import spawn_worker

ROOT = Path(__file__).parents[2]


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    os.environ["FAULT_REDIS_URL"] = redis_url
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        async with hh.client.sessions() as s, s.begin():
            await s.execute(
                text("CREATE TABLE effects (run_id uuid, step_key text, attempt int)")
            )
        yield hh


async def test_sigkill_inside_transaction_reruns_step_once(h: Harness) -> None:
    """SIGKILL inside a one-hour-timeout step's transaction: rerun within 30 s, once."""
    first = spawn_worker(h)
    try:
        run_id = await h.run("fault_chain")
        redis = await h.client.redis()
        await wait_for(lambda: redis.exists(f"fault:reached:{run_id}"), timeout_s=30)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        killed_at = time.monotonic()
        await redis.set(f"fault:release:{run_id}", 1)

        second = spawn_worker(h)
        try:
            assert await h.client.wait(run_id, timeout_s=60) == "succeeded"
            recovery_s = time.monotonic() - killed_at
        finally:
            second.kill()
            second.wait(10)
    finally:
        if first.poll() is None:
            first.kill()

    attempts = await h.attempts(run_id, "held")
    assert [a["status"] for a in attempts] == ["lost", "succeeded"]
    async with h.client.sessions() as s:
        rows = await s.execute(
            text("SELECT step_key, attempt FROM effects WHERE run_id = :r ORDER BY 1"),
            {"r": run_id},
        )
        effects = sorted((r[0], r[1]) for r in rows)
    assert effects == [("first", 1), ("held", 2), ("last", 1)]
    assert recovery_s < 30
    await asyncio.sleep(0)
