"""Worker subprocesses: the engine's and plain arq's, started, watched, stopped.

A worker runs in its own process, as in production, so the benchmark's own
process (triggering, polling) does not share its event loop or its CPU figures.
Stopping one reaps it with ``wait4``, which also gives its peak resident memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import asyncpg
import psutil
from redis.asyncio import Redis

from bench.arq_worker import health_check_key
from bench.scratch import Scratch, admin_dsn

logger = logging.getLogger(__name__)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 20.0


class WorkerStartError(RuntimeError):
    """A worker process exited or did not become ready in time."""


@dataclass
class WorkerProcess:
    """One worker subprocess and what it left behind once stopped."""

    kind: str
    popen: subprocess.Popen[bytes]
    log: IO[bytes]
    max_rss_bytes: int = 0
    exit_code: int | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid

    def cpu_seconds(self) -> float:
        """User plus system CPU time this process has used so far."""
        times = psutil.Process(self.pid).cpu_times()

        return float(times.user + times.system)

    def log_tail(self, lines: int = 20) -> str:
        self.log.flush()
        self.log.seek(0)
        return b"\n".join(self.log.read().splitlines()[-lines:]).decode(
            errors="replace"
        )


def _spawn(module: str, kind: str, env: dict[str, str]) -> WorkerProcess:
    log = tempfile.TemporaryFile()
    popen = subprocess.Popen(
        [sys.executable, "-m", module],
        cwd=PROJECT_ROOT,
        env={**os.environ, **env},
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )

    return WorkerProcess(kind, popen, log)


async def _wait_ready(
    proc: WorkerProcess, ready: Callable[[], Awaitable[bool]]
) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while not await ready():
        if proc.popen.poll() is not None:
            msg = (
                f"{proc.kind} worker (pid {proc.pid}) exited with code "
                f"{proc.popen.returncode} before it was ready:\n{proc.log_tail()}"
            )
            raise WorkerStartError(msg)
        if time.monotonic() > deadline:
            msg = (
                f"{proc.kind} worker (pid {proc.pid}) was not ready after "
                f"{STARTUP_TIMEOUT_S:.0f} s:\n{proc.log_tail()}"
            )
            raise WorkerStartError(msg)
        await asyncio.sleep(0.05)


async def stop(proc: WorkerProcess) -> None:
    """SIGTERM the worker, reap it (SIGKILL after a while) and keep its figures."""
    if proc.popen.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    reaping = asyncio.ensure_future(asyncio.to_thread(os.wait4, proc.pid, 0))
    try:
        _, status, usage = await asyncio.wait_for(
            asyncio.shield(reaping), STOP_TIMEOUT_S
        )
    except TimeoutError:
        logger.warning(
            "%s worker %d ignored SIGTERM for %.0f s, killing it",
            proc.kind,
            proc.pid,
            STOP_TIMEOUT_S,
            extra={"event": "bench.worker_killed"},
        )
        os.kill(proc.pid, signal.SIGKILL)
        _, status, usage = await reaping
    proc.exit_code = os.waitstatus_to_exitcode(status)
    proc.popen.returncode = proc.exit_code
    # ru_maxrss is in KiB on Linux.
    proc.max_rss_bytes = usage.ru_maxrss * 1024
    if proc.exit_code not in (0, -signal.SIGTERM, -signal.SIGKILL):
        logger.warning(
            "%s worker %d exited with %d:\n%s",
            proc.kind,
            proc.pid,
            proc.exit_code,
            proc.log_tail(),
            extra={"event": "bench.worker_failed"},
        )
    proc.log.close()


async def start_engine_workers(scratch: Scratch, count: int) -> list[WorkerProcess]:
    """Start ``count`` engine workers; ready once each has heart-beaten."""
    env = {
        "DATABASE_URL": scratch.database_url,
        "REDIS_URL": scratch.redis_url,
        "BENCH_QUEUE": scratch.queue_name,
    }
    procs = [_spawn("bench.worker_main", "engine", env) for _ in range(count)]
    conn = await asyncpg.connect(admin_dsn(scratch.database_url))
    try:
        for proc in procs:

            async def beaten(pid: int = proc.pid) -> bool:
                found = await conn.fetchval("SELECT 1 FROM workers WHERE pid = $1", pid)
                return found is not None

            await _wait_ready(proc, beaten)
    except BaseException:
        for proc in procs:
            await stop(proc)
        raise
    finally:
        await conn.close()

    return procs


async def start_arq_workers(
    scratch: Scratch, count: int, poll_s: float, *, uvloop: bool = False
) -> list[WorkerProcess]:
    """Start ``count`` plain arq workers; ready once each has polled its queue."""
    env = {
        "REDIS_URL": scratch.redis_url,
        "BENCH_QUEUE": scratch.queue_name,
        "BENCH_POLL_S": repr(poll_s),
        "BENCH_UVLOOP": "1" if uvloop else "0",
    }
    procs = [_spawn("bench.arq_worker", "arq", env) for _ in range(count)]
    redis = Redis.from_url(scratch.redis_url)
    try:
        for proc in procs:
            key = health_check_key(scratch.queue_name, proc.pid)

            async def polled(key: str = key) -> bool:
                return bool(await redis.exists(key))

            await _wait_ready(proc, polled)
    except BaseException:
        for proc in procs:
            await stop(proc)
        raise
    finally:
        await redis.aclose()

    return procs


@asynccontextmanager
async def running(
    starting: Awaitable[list[WorkerProcess]],
) -> AsyncIterator[list[WorkerProcess]]:
    """Workers for the duration of a block, stopped (and reaped) afterwards."""
    procs = await starting
    try:
        yield procs
    finally:
        for proc in procs:
            await stop(proc)


async def idle_cpu(
    procs: list[WorkerProcess], redis_url: str, window_s: float
) -> tuple[float, float]:
    """CPU used over ``window_s`` of doing nothing, in % of one core.

    Returns the workers' own, and the Redis server's over the same window (the
    server may be shared, so that one includes whatever its other clients do).
    """
    redis = Redis.from_url(redis_url)
    try:
        redis_before = await redis_cpu_seconds(redis)
        before = sum(p.cpu_seconds() for p in procs)
        started = time.perf_counter()
        await asyncio.sleep(window_s)
        used = sum(p.cpu_seconds() for p in procs) - before
        redis_used = await redis_cpu_seconds(redis) - redis_before
        elapsed = time.perf_counter() - started
    finally:
        await redis.aclose()

    return 100.0 * used / elapsed, 100.0 * redis_used / elapsed


async def redis_cpu_seconds(redis: Redis) -> float:
    """CPU seconds the Redis server has used (its own ``INFO cpu``)."""
    info = await redis.info("cpu")

    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])
