"""The orchestrator as the API and the CLI use it: graphs, database and queue."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from datetime import datetime
from types import TracebackType
from typing import Any

from arq.connections import ArqRedis, create_pool
from arq.constants import abort_jobs_ss
from arq.utils import timestamp_ms
from opentelemetry.trace import TracerProvider
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator import engine as actions
from orchestrator.db import make_engine, make_sessionmaker
from orchestrator.errors import RunNotFoundError, UnknownGraphError
from orchestrator.executor import (
    enqueue_attempts,
    json_dumps,
    json_loads,
    redis_settings,
)
from orchestrator.graph import Graph
from orchestrator.models import RunRow
from orchestrator.state import QueuedAttempt
from orchestrator.states import RUN_TERMINAL, Trigger
from orchestrator.telemetry import instrument_engine, instrument_redis


class Orchestrator:
    """A connection to one deployment: its graphs, database and queue.

    Use as an async context manager, or call :meth:`close`. With a
    ``tracer_provider``, each run it triggers gets its trace (see
    :func:`orchestrator.engine.trigger_run`) and its database and Redis calls
    are traced.
    """

    def __init__(
        self,
        graphs: Mapping[str, Graph],
        database_url: str,
        redis_url: str,
        queue_name: str = "rulerepo:queue",
        *,
        tracer_provider: TracerProvider | None = None,
    ) -> None:
        self.graphs = dict(graphs)
        self.queue_name = queue_name
        self.tracer_provider = tracer_provider
        self.engine: AsyncEngine = make_engine(database_url, pool_size=5)
        instrument_engine(self.engine, tracer_provider)
        self.sessions: async_sessionmaker[AsyncSession] = make_sessionmaker(self.engine)
        self._redis_url = redis_url
        self._redis: ArqRedis | None = None

    async def __aenter__(self) -> Orchestrator:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def close(self) -> None:
        if self._redis is not None:
            await self._redis.aclose()
        await self.engine.dispose()

    async def close_redis(self) -> None:
        """Drop the Redis connection (a later call reconnects)."""
        if self._redis is not None:
            await self._redis.aclose()
            self._redis = None

    async def redis(self) -> ArqRedis:
        if self._redis is None:
            self._redis = await create_pool(
                redis_settings(self._redis_url),
                job_serializer=json_dumps,
                job_deserializer=json_loads,
                default_queue_name=self.queue_name,
            )
            instrument_redis(self._redis, self.tracer_provider)
        return self._redis

    async def enqueue(self, attempts: list[QueuedAttempt]) -> None:
        if attempts:
            await enqueue_attempts(await self.redis(), self.queue_name, attempts)

    def graph(self, name: str) -> Graph:
        try:
            return self.graphs[name]
        except KeyError:
            raise UnknownGraphError(name, list(self.graphs)) from None

    async def trigger(
        self,
        graph_name: str,
        *,
        logical_time: datetime,
        trigger: Trigger,
        actor: str,
        params: Mapping[str, Any] | None = None,
        dedup_key: str | None = None,
        traceparent: str | None = None,
    ) -> actions.TriggerResult:
        """Start a run (see :func:`orchestrator.engine.trigger_run`)."""
        return await actions.trigger_run(
            self.sessions,
            self.enqueue,
            self.graph(graph_name),
            logical_time=logical_time,
            trigger=trigger,
            actor=actor,
            params=params,
            dedup_key=dedup_key,
            traceparent=traceparent,
            tracer_provider=self.tracer_provider,
        )

    async def retry(self, run_id: uuid.UUID, step_key: str, actor: str) -> None:
        await actions.retry_step(self.sessions, self.enqueue, run_id, step_key, actor)

    async def rerun(self, run_id: uuid.UUID, step_key: str, actor: str) -> None:
        await actions.rerun_step(self.sessions, self.enqueue, run_id, step_key, actor)

    async def cancel(self, run_id: uuid.UUID, actor: str) -> None:
        """Cancel a run and abort its running attempts' arq jobs.

        The abort is arq's: each job id goes into arq's abort set, and the
        worker running it cancels the attempt on its next poll (the attempt
        could not commit anyway: its run is no longer running). arq's own
        ``Job.abort`` is not used: it first reads the job through a
        deserializer of its own, pickle unless told otherwise, and nothing
        read from Redis may be unpickled.
        """
        job_ids = await actions.cancel_run(self.sessions, run_id, actor)
        if job_ids:
            redis = await self.redis()
            now_ms = timestamp_ms()
            await redis.zadd(abort_jobs_ss, dict.fromkeys(job_ids, now_ms))

    async def run_status(self, run_id: uuid.UUID) -> str:
        async with self.sessions() as session:
            status = await session.scalar(
                select(RunRow.status).where(RunRow.id == run_id)
            )
        if status is None:
            raise RunNotFoundError(run_id)
        return status

    async def wait(
        self, run_id: uuid.UUID, *, timeout_s: float | None = None, every_s: float = 0.1
    ) -> str:
        """Wait until the run finishes; returns its final status."""
        async with asyncio.timeout(timeout_s):
            while True:
                status = await self.run_status(run_id)
                if status in RUN_TERMINAL:
                    return status
                await asyncio.sleep(every_s)
