"""Where a measured stretch's CPU went: workers, PostgreSQL, Redis, the machine.

A no-op step costs CPU in three places at once: the worker process, the
PostgreSQL server and the Redis server. On a machine of two cores they compete
for the same cores, so per-step throughput is bounded by their sum as much as
by any one of them; these readings show which.

- Workers: their processes' user plus system time (``psutil``).
- PostgreSQL: every local process named ``postgres`` (the backends serving the
  workers, and the WAL writer and other helpers), counted per process: what
  each process alive at the end used since the start (all of it, if it started
  meanwhile). A backend that exits during the stretch is not counted, so
  short-lived connections are undercounted (the workers' and the benchmark's
  are pooled and outlive it), and other clients of the same server are
  counted. Only a server on this machine can be read; for another, the
  reading is ``None``.
- Redis: the server's own ``INFO cpu``, which counts all of its clients.
- The machine: every core's busy time (all but idle and I/O wait), so the
  benchmark's own process and the kernel are in it too.

The kernel counts CPU time in ticks (10 ms here), so a stretch of a fraction of
a second (``--quick``) reads coarsely; a full-size run lasts seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import psutil
from redis.asyncio import Redis

from bench.workers import WorkerProcess, redis_cpu_seconds


@dataclass(frozen=True)
class CpuReading:
    """Cumulative CPU seconds at one instant."""

    at: float
    workers_s: float
    postgres_by_pid: dict[int, float] | None
    redis_s: float
    machine_busy_s: float


@dataclass(frozen=True)
class CpuUse:
    """CPU seconds used between two readings, and the wall time between them."""

    elapsed_s: float
    workers_s: float
    postgres_s: float | None
    redis_s: float
    machine_busy_s: float

    @property
    def machine_busy_pct(self) -> float:
        """How busy all cores were together, in % of their capacity."""
        cores = psutil.cpu_count() or 1

        return 100.0 * self.machine_busy_s / (self.elapsed_s * cores)


def postgres_cpu_seconds() -> dict[int, float] | None:
    """CPU seconds of each local ``postgres`` process, or None if there are none."""
    by_pid = {
        proc.pid: float(times.user + times.system)
        for proc in psutil.process_iter(["name", "cpu_times"])
        if proc.info["name"] == "postgres"
        and (times := proc.info["cpu_times"]) is not None
    }

    return by_pid or None


def machine_busy_seconds() -> float:
    """Busy CPU seconds of all cores together since boot."""
    times = psutil.cpu_times()

    return float(times.user + times.nice + times.system + times.irq + times.softirq)


async def read_cpu(procs: Sequence[WorkerProcess], redis: Redis) -> CpuReading:
    """One reading of every counter."""
    redis_s = await redis_cpu_seconds(redis)

    return CpuReading(
        at=time.perf_counter(),
        workers_s=sum(p.cpu_seconds() for p in procs),
        postgres_by_pid=postgres_cpu_seconds(),
        redis_s=redis_s,
        machine_busy_s=machine_busy_seconds(),
    )


def used_between(before: CpuReading, after: CpuReading) -> CpuUse:
    """What was used from ``before`` to ``after``."""
    postgres = None
    if before.postgres_by_pid is not None and after.postgres_by_pid is not None:
        earlier = before.postgres_by_pid
        postgres = sum(
            max(0.0, seconds - earlier.get(pid, 0.0))
            for pid, seconds in after.postgres_by_pid.items()
        )

    return CpuUse(
        elapsed_s=after.at - before.at,
        workers_s=after.workers_s - before.workers_s,
        postgres_s=postgres,
        redis_s=after.redis_s - before.redis_s,
        machine_busy_s=after.machine_busy_s - before.machine_busy_s,
    )
