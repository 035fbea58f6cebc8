"""Helpers to run the engine for real in tests: a worker task and waits."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from opentelemetry.trace import TracerProvider
from sqlalchemy import text

from orchestrator.client import Orchestrator
from orchestrator.executor import OrchestratorWorker
from orchestrator.graph import Graph
from orchestrator.worker import WorkerConfig, build_worker


@dataclass
class Harness:
    """An orchestrator client plus the means to start in-process workers."""

    client: Orchestrator
    database_url: str
    redis_url: str
    queue_name: str
    workers: list[tuple[OrchestratorWorker, asyncio.Task[None]]]

    def config(self, **overrides: Any) -> WorkerConfig:
        base: dict[str, Any] = {
            "database_url": self.database_url,
            "redis_url": self.redis_url,
            "queue_name": self.queue_name,
            "poll_delay": timedelta(seconds=0.2),
            "sweep_interval": timedelta(seconds=0.5),
            "heartbeat_interval": timedelta(seconds=0.5),
            "lost_grace": timedelta(seconds=3),
        }
        return WorkerConfig(**{**base, **overrides})

    async def start_worker(
        self, resources: Mapping[str, Any] | None = None, **kw: Any
    ) -> OrchestratorWorker:
        async def factory() -> dict[str, Any]:
            return dict(resources or {})

        worker = build_worker(self.config(**kw), factory, handle_signals=False)
        task = asyncio.create_task(worker.main())
        self.workers.append((worker, task))
        return worker

    async def stop_workers(self) -> None:
        for worker, _task in self.workers:
            worker.stopping = True
            worker.wake.set()
        for worker, task in self.workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(task, 10)
            # arq's close() re-raises the CancelledError of an aborted job.
            with contextlib.suppress(asyncio.CancelledError):
                await worker.close()
        self.workers.clear()

    async def run(self, graph: str, **kw: Any) -> uuid.UUID:
        from datetime import UTC, datetime

        from orchestrator.states import Trigger

        kw.setdefault("logical_time", datetime(2026, 11, 30, 5, tzinfo=UTC))
        kw.setdefault("trigger", Trigger.CLI)
        kw.setdefault("actor", "test")
        result = await self.client.trigger(graph, **kw)
        return result.run_id

    async def steps(self, run_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        async with self.client.sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT step_key, status, attempt, output, error FROM step_runs"
                    " WHERE run_id = :run"
                ),
                {"run": run_id},
            )
            return {
                r.step_key: {
                    "status": r.status,
                    "attempt": r.attempt,
                    "output": r.output,
                    "error": r.error,
                }
                for r in rows
            }

    async def attempts(self, run_id: uuid.UUID, step_key: str) -> list[dict[str, Any]]:
        async with self.client.sessions() as session:
            rows = await session.execute(
                text(
                    "SELECT attempt, status, error_type, error_message, started_at, finished_at"
                    " FROM attempts WHERE run_id = :run AND step_key = :key ORDER BY attempt"
                ),
                {"run": run_id, "key": step_key},
            )
            return [dict(r._mapping) for r in rows]


@contextlib.asynccontextmanager
async def harness(
    graphs: Mapping[str, Graph],
    database_url: str,
    redis_url: str,
    queue_name: str,
    *,
    tracer_provider: TracerProvider | None = None,
) -> AsyncIterator[Harness]:
    client = Orchestrator(
        graphs, database_url, redis_url, queue_name, tracer_provider=tracer_provider
    )
    h = Harness(client, database_url, redis_url, queue_name, [])
    try:
        yield h
    finally:
        await h.stop_workers()
        redis = await client.redis()
        keys = [k async for k in redis.scan_iter(match=f"{queue_name}*")]
        if keys:
            await redis.delete(*keys)
        await client.close()


async def wait_for(
    predicate: Callable[[], Any], timeout_s: float = 20.0, every_s: float = 0.05
) -> Any:
    """Poll ``predicate`` (sync or async) until it returns something truthy."""
    async with asyncio.timeout(timeout_s):
        while True:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(every_s)
