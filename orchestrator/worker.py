"""A worker process: arq's worker with this engine's loops beside it.

Besides running attempts, every worker heart-beats (its own row in ``workers`` and
the attempts it is running) and takes part in the sweep; only one sweeps at a
time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

from arq.cron import cron
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from orchestrator.attempt import Runtime
from orchestrator.db import make_engine, make_sessionmaker, transaction
from orchestrator.executor import (
    OrchestratorWorker,
    attempt_function,
    json_dumps,
    json_loads,
    redis_settings,
)
from orchestrator.graph import Graph
from orchestrator.schedules import tick
from orchestrator.state import QueuedAttempt
from orchestrator.sweep import sweep
from orchestrator.telemetry import (
    Telemetry,
    instrument_engine,
    instrument_redis,
    serve_metrics,
)

logger = logging.getLogger(__name__)

ResourcesFactory = Callable[[], Awaitable[dict[str, Any]]]


@dataclass
class WorkerConfig:
    """How one worker process runs.

    Attributes:
        poll_delay: the longest wait between queue polls when no wake-up arrives
            (deferred retries start at most this late).
        lost_grace: how long an attempt may go without a heartbeat before the
            sweep declares it lost.
        telemetry: the tracer and meter providers attempts, triggers and the
            instrumented database and Redis clients use (none by default).
        metrics_port: serve the metrics for Prometheus on this port (0: any
            free one); off by default.
    """

    database_url: str
    redis_url: str
    queue_name: str = "rulerepo:queue"
    concurrency: int = 10
    poll_delay: timedelta = timedelta(seconds=0.5)
    sweep_interval: timedelta = timedelta(seconds=5)
    heartbeat_interval: timedelta = timedelta(seconds=2)
    lost_grace: timedelta = timedelta(seconds=10)
    burst: bool = False
    graphs: Mapping[str, Graph] = field(default_factory=dict)
    schedule_timezone: str = "UTC"
    catchup: timedelta = timedelta(hours=24)
    # Tick schedules every second instead of every minute (for second-level cron).
    tick_every_second: bool = False
    cron_jobs: Sequence[Any] = ()
    telemetry: Telemetry | None = None
    metrics_port: int | None = None
    metrics_host: str = "0.0.0.0"
    worker_id: str = field(
        default_factory=lambda: (
            f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        )
    )


def build_worker(
    config: WorkerConfig,
    resources: ResourcesFactory | None = None,
    *,
    handle_signals: bool = True,
) -> OrchestratorWorker:
    """An arq worker that runs attempts of any registered graph.

    Built outside a running event loop (a worker process), it runs on uvloop
    where uvloop is installed: it halves the CPU each database and Redis round
    trip costs the worker. Built inside one (a test, ``rulerepo run
    --worker``), it runs on that loop.
    """
    _use_uvloop_unless_running()
    loops: list[asyncio.Task[None]] = []

    async def on_startup(ctx: dict[str, Any]) -> None:
        engine = make_engine(config.database_url, pool_size=config.concurrency + 2)
        sessions = make_sessionmaker(engine)
        worker: OrchestratorWorker = ctx["worker"]
        telemetry = _start_telemetry(ctx, config, engine)

        async def enqueue(attempts: list[QueuedAttempt]) -> None:
            if attempts:
                await worker.hand_off(attempts)

        ctx["engine"] = engine
        ctx["in_flight"] = set()
        ctx["runtime"] = Runtime(
            sessions=sessions,
            enqueue=enqueue,
            worker_id=config.worker_id,
            resources=await resources() if resources else {},
            telemetry=telemetry,
        )
        ctx["config"] = config
        loops.append(asyncio.create_task(_heartbeat_loop(ctx, config)))
        loops.append(asyncio.create_task(_sweep_loop(ctx, config)))
        if any(g.schedule for g in config.graphs.values()):
            await _catch_up(ctx)

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        for loop in loops:
            loop.cancel()
        for loop in loops:
            with contextlib.suppress(asyncio.CancelledError):
                await loop
        if "engine" in ctx:
            with contextlib.suppress(Exception):
                async with transaction(ctx["runtime"].sessions) as session:
                    await session.execute(
                        text("DELETE FROM workers WHERE id = :id"),
                        {"id": config.worker_id},
                    )
            await ctx["engine"].dispose()
        if "metrics_server" in ctx:
            ctx["metrics_server"].close()
        logger.info("worker stopped", extra={"event": "worker.stopped"})

    return OrchestratorWorker(
        functions=[attempt_function()],
        queue_name=config.queue_name,
        redis_settings=redis_settings(config.redis_url),
        job_serializer=json_dumps,
        job_deserializer=json_loads,
        max_jobs=config.concurrency,
        poll_delay=config.poll_delay.total_seconds(),
        on_startup=on_startup,
        on_shutdown=on_shutdown,
        burst=config.burst,
        handle_signals=handle_signals,
        allow_abort_jobs=True,
        keep_result=0,
        health_check_interval=60,
        cron_jobs=_cron_jobs(config) or None,
    )


def _use_uvloop_unless_running() -> None:
    """Make a uvloop event loop current for arq's Worker to pick up, if none runs."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return
    try:
        import uvloop
    except ImportError:  # not built for this platform (Windows)
        return
    asyncio.set_event_loop(uvloop.new_event_loop())


def _start_telemetry(
    ctx: dict[str, Any], config: WorkerConfig, engine: AsyncEngine
) -> Telemetry:
    """Instrument the worker's database and Redis clients; serve its metrics."""
    telemetry = config.telemetry or Telemetry()
    if telemetry.traces_exported:
        instrument_engine(engine, telemetry.tracer_provider, telemetry.meter_provider)
        instrument_redis(ctx["redis"], telemetry.tracer_provider)
    if config.metrics_port is not None:
        ctx["metrics_server"] = serve_metrics(
            telemetry, config.metrics_port, config.metrics_host
        )

    return telemetry


def _cron_jobs(config: WorkerConfig) -> list[Any]:
    jobs = list(config.cron_jobs)
    if any(g.schedule for g in config.graphs.values()):
        second = set(range(60)) if config.tick_every_second else {0}
        jobs.append(
            cron(
                schedule_tick,
                name="schedule_tick",
                second=second,
                microsecond=0,
                unique=True,
                keep_result=0,
                max_tries=1,
                timeout=300,
            )
        )
    return jobs


async def schedule_tick(ctx: dict[str, Any], *, only_latest: bool = False) -> None:
    """arq cron: start the due slots of every schedule (see orchestrator.schedules)."""
    config: WorkerConfig = ctx["config"]
    runtime: Runtime = ctx["runtime"]
    await tick(
        runtime.sessions,
        runtime.enqueue,
        config.graphs,
        ZoneInfo(config.schedule_timezone),
        catchup=config.catchup,
        only_latest=only_latest,
        tracer_provider=runtime.telemetry.tracer_provider,
    )


async def _catch_up(ctx: dict[str, Any]) -> None:
    """Start the most recent missed slot of each schedule, once, at startup."""
    try:
        await schedule_tick(ctx, only_latest=True)
    except Exception:
        logger.warning(
            "schedule catch-up failed",
            exc_info=True,
            extra={"event": "schedule.failed"},
        )


_BEAT_WORKER = text(
    """
    INSERT INTO workers (id, hostname, pid, started_at, heartbeat_at)
    VALUES (:id, :host, :pid, clock_timestamp(), clock_timestamp())
    ON CONFLICT (id) DO UPDATE SET heartbeat_at = clock_timestamp()
    """
)

_BEAT_ATTEMPTS = text(
    """
    UPDATE attempts SET heartbeat_at = clock_timestamp()
    WHERE status = 'running' AND worker_id = :id
      AND (run_id::text || '|' || step_key || '|' || attempt) = ANY(:keys)
    """
)


async def _heartbeat_loop(ctx: Mapping[str, Any], config: WorkerConfig) -> None:
    runtime: Runtime = ctx["runtime"]
    host, pid = socket.gethostname(), os.getpid()
    while True:
        try:
            async with transaction(runtime.sessions) as session:
                await session.execute(
                    _BEAT_WORKER, {"id": config.worker_id, "host": host, "pid": pid}
                )
                keys = [f"{r}|{s}|{a}" for r, s, a in ctx["in_flight"]]
                if keys:
                    await session.execute(
                        _BEAT_ATTEMPTS, {"id": config.worker_id, "keys": keys}
                    )
        except Exception:
            logger.warning(
                "heartbeat failed",
                exc_info=True,
                extra={"event": "worker.heartbeat_failed"},
            )
        await asyncio.sleep(config.heartbeat_interval.total_seconds())


async def _sweep_loop(ctx: Mapping[str, Any], config: WorkerConfig) -> None:
    runtime: Runtime = ctx["runtime"]
    while True:
        await asyncio.sleep(config.sweep_interval.total_seconds())
        try:
            await sweep(
                runtime.sessions,
                ctx["redis"],
                config.queue_name,
                grace=config.lost_grace,
            )
        except Exception:
            logger.warning(
                "sweep failed", exc_info=True, extra={"event": "sweep.failed"}
            )
