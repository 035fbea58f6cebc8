"""A worker survives Redis and PostgreSQL restarts, and its runs complete."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rulerepo.services.layout import ServicePaths
from rulerepo.services.postgres import ensure_postgres, stop_postgres
from rulerepo.services.redis import ensure_redis, redis_server_executable, stop_redis
from tests.support.engine import Harness, harness, wait_for
from tests.support.fault_tasks import SLOW_GRAPH
from tests.support.processes import private_servers, spawn_worker

ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServicePaths, Any]]:
    with private_servers("rrout") as pair:
        yield pair


@pytest.fixture
async def h(
    servers: tuple[ServicePaths, Any], queue_name: str
) -> AsyncIterator[Harness]:
    _, urls = servers
    graphs = {SLOW_GRAPH.name: SLOW_GRAPH}
    async with harness(graphs, urls.database_url, urls.redis_url, queue_name) as hh:
        async with hh.client.sessions() as s, s.begin():
            await s.execute(
                text(
                    "CREATE TABLE IF NOT EXISTS effects (run_id uuid, step_key text, attempt int)"
                )
            )
        yield hh


async def _step_status(h: Harness, run_id: object, key: str) -> str | None:
    try:
        status = (await h.steps(run_id))[key]["status"]  # type: ignore[arg-type]
        return str(status)
    except Exception:  # the database may be down while polling
        return None


async def _effects(h: Harness, run_id: object) -> list[tuple[str, int]]:
    async with h.client.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT step_key, attempt FROM effects WHERE run_id = :r ORDER BY 1, 2"
            ),
            {"r": run_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_worker_survives_redis_restart_and_run_completes(
    h: Harness, servers: tuple[ServicePaths, Any]
) -> None:
    """Redis stops for a few seconds mid-run: the worker lives, the run succeeds."""
    paths, _ = servers
    worker = spawn_worker(h)
    try:
        run_id = await h.run("outage_chain")
        await wait_for(lambda: _step_status(h, run_id, "slow"), timeout_s=30)
        await wait_for(
            lambda: _is(h, run_id, "slow", "running"), timeout_s=30, every_s=0.1
        )
        await h.client.close_redis()
        stop_redis(paths)
        await asyncio.sleep(4)
        assert worker.poll() is None
        ensure_redis(paths, redis_server_executable())

        assert await h.client.wait(run_id, timeout_s=90) == "succeeded"
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    effects = await _effects(h, run_id)
    assert sorted({key for key, _ in effects}) == ["first", "last", "slow"]
    assert len(effects) == 3


async def _is(h: Harness, run_id: object, key: str, status: str) -> bool:
    return await _step_status(h, run_id, key) == status


async def test_worker_survives_postgres_restart_and_run_completes(
    h: Harness, servers: tuple[ServicePaths, Any]
) -> None:
    """PostgreSQL restarts mid-step: the worker lives, the step runs again, once."""
    paths, _ = servers
    worker = spawn_worker(h)
    try:
        run_id = await h.run("outage_chain")
        await wait_for(
            lambda: _is(h, run_id, "slow", "running"), timeout_s=30, every_s=0.1
        )
        await h.client.engine.dispose()
        stop_postgres(paths)
        await asyncio.sleep(3)
        assert worker.poll() is None
        ensure_postgres(paths)

        status = await wait_for(lambda: _finished(h, run_id), timeout_s=90, every_s=0.3)
        assert status == "succeeded"
        assert worker.poll() is None
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(20)
    effects = await _effects(h, run_id)
    assert [key for key, _ in effects] == ["first", "last", "slow"]
    attempts = await h.attempts(run_id, "slow")
    assert attempts[-1]["status"] == "succeeded"
    assert len(attempts) >= 2


async def _finished(h: Harness, run_id: Any) -> str | None:
    try:
        status = await h.client.run_status(run_id)
    except Exception:  # the database may still be starting
        return None
    return status if status in {"succeeded", "failed", "cancelled"} else None
