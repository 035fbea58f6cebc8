"""Fault injection: SIGKILLed workers and server restarts in the middle of runs.

Two worker processes serve a stream of six-step runs whose steps write to a
domain table inside their transactions. A killer SIGKILLs a random worker at
random moments and starts a new one; Redis and PostgreSQL are restarted a few
times too. Afterwards every run must have succeeded, every step's effect must
exist exactly once, and no attempt may be left running or queued.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import statistics
import time
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from rulerepo.services.layout import ServicePaths
from rulerepo.services.postgres import ensure_postgres, stop_postgres
from rulerepo.services.redis import ensure_redis, redis_server_executable, stop_redis
from tests.support.engine import Harness, harness, wait_for
from tests.support.fault_tasks import DIAMOND_GRAPH
from tests.support.figures import report
from tests.support.processes import private_servers, spawn_worker

pytestmark = pytest.mark.faults
ROOT = Path(__file__).parents[2]
KILLS = int(os.environ.get("FAULT_KILLS", "50"))
RUNS = 60


@pytest.fixture(scope="module")
def servers() -> Iterator[tuple[ServicePaths, Any]]:
    with private_servers("rrflt") as pair:
        yield pair


@pytest.fixture
async def h(
    servers: tuple[ServicePaths, Any], queue_name: str
) -> AsyncIterator[Harness]:
    _, urls = servers
    graphs = {DIAMOND_GRAPH.name: DIAMOND_GRAPH}
    async with harness(graphs, urls.database_url, urls.redis_url, queue_name) as hh:
        async with hh.client.sessions() as s, s.begin():
            await s.execute(
                text("CREATE TABLE effects (run_id uuid, step_key text, attempt int)")
            )
        yield hh


async def _trigger_runs(h: Harness, n: int) -> list[Any]:
    run_ids = []
    for i in range(n):
        at = datetime(2026, 11, 1, tzinfo=UTC).replace(minute=i % 60, hour=i // 60)
        run_ids.append(await h.run("fault_diamond", logical_time=at))
        await asyncio.sleep(random.uniform(0.05, 0.25))
    return run_ids


async def _safe(coro: Any) -> Any:
    try:
        return await coro
    except Exception:  # a server may be restarting under the poll
        return None


async def _all_finished(h: Harness, run_ids: list[Any]) -> bool:
    async with h.client.sessions() as s:
        left = await s.scalar(
            text(
                "SELECT count(*) FROM runs WHERE id = ANY(:ids)"
                " AND status NOT IN ('succeeded', 'failed', 'cancelled')"
            ),
            {"ids": run_ids},
        )
    return bool(left == 0)


async def _stuck(h: Harness, run_ids: list[Any]) -> list[tuple[Any, ...]]:
    async with h.client.sessions() as s:
        rows = await s.execute(
            text(
                """
                SELECT s.step_key, s.status, a.attempt, a.status, a.worker_id,
                       a.queued_at, a.started_at
                FROM step_runs s JOIN attempts a ON a.run_id = s.run_id
                  AND a.step_key = s.step_key AND a.attempt = s.attempt
                WHERE s.run_id = ANY(:ids) AND s.status IN ('queued', 'running')
                LIMIT 10
                """
            ),
            {"ids": run_ids},
        )
        return [tuple(r) for r in rows]


@pytest.mark.timeout(900)
async def test_fault_injection_loses_and_duplicates_nothing(
    h: Harness, servers: tuple[ServicePaths, Any]
) -> None:
    """Fifty SIGKILLs and server restarts mid-run: all runs finish, effects once."""
    paths, _ = servers
    workers = [spawn_worker(h, FAULT_GRACE_S="3"), spawn_worker(h, FAULT_GRACE_S="3")]
    kills: list[tuple[int, float]] = []
    restarts = 0
    triggering = asyncio.create_task(_trigger_runs(h, RUNS))
    started = time.monotonic()
    try:
        while len(kills) < KILLS:
            await asyncio.sleep(random.uniform(0.4, 1.6))
            victim = random.randrange(len(workers))
            pid = workers[victim].pid
            os.kill(pid, signal.SIGKILL)
            workers[victim].wait(10)
            kills.append((pid, time.time()))
            workers[victim] = spawn_worker(h, FAULT_GRACE_S="3")
            if len(kills) in (15, 35):
                await h.client.close_redis()
                stop_redis(paths)
                await asyncio.sleep(2)
                ensure_redis(paths, redis_server_executable())
                restarts += 1
            if len(kills) == 25:
                await h.client.engine.dispose()
                stop_postgres(paths)
                await asyncio.sleep(2)
                ensure_postgres(paths)
                restarts += 1
        run_ids = await triggering
        try:
            await wait_for(
                lambda: _safe(_all_finished(h, run_ids)), timeout_s=240, every_s=0.5
            )
        except TimeoutError:
            pytest.fail(f"runs did not finish: {await _stuck(h, run_ids)}")
    finally:
        for worker in workers:
            worker.kill()
            worker.wait(10)
        if not triggering.done():
            triggering.cancel()

    figures = await _figures(h, run_ids, kills)
    figures["server restarts"] = restarts
    figures["seconds"] = round(time.monotonic() - started, 1)
    report("fault injection", figures)
    assert figures["completed"] == figures["runs"] == RUNS
    assert figures["duplicates"] == 0
    assert figures["missing effects"] == 0
    assert figures["attempts left open"] == 0


async def _figures(
    h: Harness, run_ids: list[Any], kills: list[tuple[int, float]]
) -> dict[str, Any]:
    async with h.client.sessions() as s:
        completed = await s.scalar(
            text(
                "SELECT count(*) FROM runs WHERE id = ANY(:ids) AND status = 'succeeded'"
            ),
            {"ids": run_ids},
        )
        counts = (
            await s.execute(
                text(
                    """
                    SELECT sr.run_id, sr.step_key, count(e.step_key)
                    FROM step_runs sr LEFT JOIN effects e
                      ON e.run_id = sr.run_id AND e.step_key = sr.step_key
                    WHERE sr.run_id = ANY(:ids) GROUP BY 1, 2
                    """
                ),
                {"ids": run_ids},
            )
        ).all()
        open_attempts = await s.scalar(
            text(
                "SELECT count(*) FROM attempts WHERE run_id = ANY(:ids)"
                " AND status IN ('queued', 'running')"
            ),
            {"ids": run_ids},
        )
        lost = (
            await s.execute(
                text(
                    """
                    SELECT a.worker_id, extract(epoch FROM n.started_at)
                    FROM attempts a JOIN attempts n ON n.run_id = a.run_id
                      AND n.step_key = a.step_key AND n.attempt = a.attempt + 1
                    WHERE a.run_id = ANY(:ids) AND a.status = 'lost'
                    """
                ),
                {"ids": run_ids},
            )
        ).all()
        statuses: dict[str, int] = dict(
            (
                await s.execute(
                    text(
                        "SELECT status, count(*) FROM attempts WHERE run_id = ANY(:ids)"
                        " GROUP BY status"
                    ),
                    {"ids": run_ids},
                )
            ).all()
        )
    killed_at = {pid: at for pid, at in kills}
    recovery = [
        float(started) - killed_at[int(worker.split(":")[1])]
        for worker, started in lost
        if worker and int(worker.split(":")[1]) in killed_at and started
    ]
    return {
        "trials (kills)": len(kills),
        "runs": len(run_ids),
        "completed": completed,
        "duplicates": sum(1 for *_, n in counts if n > 1),
        "missing effects": sum(1 for *_, n in counts if n == 0),
        "attempts left open": open_attempts,
        "lost attempts": len(lost),
        "lost attempts recovered": len(recovery),
        "attempt statuses": statuses,
        "recovery median s": round(statistics.median(recovery), 2)
        if recovery
        else None,
        "recovery max s": round(max(recovery), 2) if recovery else None,
    }
