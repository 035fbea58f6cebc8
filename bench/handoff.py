"""2. Hand-off latency along a chain, and what an idle worker costs.

The engine runs a chain of N stamping steps; a hop is the successor's code
starting minus the predecessor's code ending, both read from the steps' own
outputs (``time.time()`` in the worker), so the hop covers the predecessor's
commit, the enqueue, the wake-up, arq's pickup and the successor's claim. The
same hop measured from the attempt rows (successor's ``started_at`` minus
predecessor's ``finished_at``) is shown too.

Plain arq runs a chain of jobs that each enqueue the next; a hop is the next
job's start minus the moment the previous job's code called ``enqueue_job``.
At arq's default poll (0.5 s) every hop waits for a poll, so that chain is
shorter.

Idle cost: the CPU a worker process uses over a window in which it has nothing
to do (after the chain), for the engine's worker (poll 0.5 s as a fallback to
the wake channel) and for arq at 0.5 s and 0.001 s (the latter also on uvloop,
the engine's event loop); with the Redis server's CPU over the same window
beside it.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from dataclasses import dataclass, field
from itertools import pairwise

from arq.connections import ArqRedis

from bench.arq_runs import ArqVariant, arq_pool, pop_waiting, wait_drained
from bench.config import BenchConfig
from bench.engine_runs import attempt_times, client, outputs, run_once
from bench.figures import Figure, median, percentile
from bench.noop_graphs import chain, step_key
from bench.scratch import Scratch, scratch
from bench.workers import (
    WorkerProcess,
    idle_cpu,
    running,
    start_arq_workers,
    start_engine_workers,
)

SECTION = "2. hand-off and idle cost"
SLOW_POLL_HOPS = 20
ARQ_VARIANTS = (ArqVariant(0.001), ArqVariant(0.001, uvloop=True), ArqVariant(0.5))
SETTLE_S = 1.0


@dataclass
class ChainResult:
    """Hop times (seconds) of each measured chain, and the idle CPU figures."""

    hops: list[list[float]] = field(default_factory=list)
    db_hops: list[list[float]] = field(default_factory=list)
    idle: list[float] = field(default_factory=list)
    redis_idle: list[float] = field(default_factory=list)

    async def measure_idle(
        self, procs: list[WorkerProcess], redis_url: str, window_s: float
    ) -> None:
        await asyncio.sleep(SETTLE_S)
        worker, server = await idle_cpu(procs, redis_url, window_s)
        self.idle.append(worker)
        self.redis_idle.append(server)


async def measure(config: BenchConfig) -> list[Figure]:
    """Hop p50 and p99 per chain, idle CPU per worker kind."""
    length = config.size(500, 50)
    window_s = config.size(10, 3)
    figures: list[Figure] = []
    async with scratch(config.database_url, config.redis_url, "handoff") as base:
        engine = await _engine(base.queue("engine"), length, config.repeat, window_s)
        figures += _figures("engine", length, engine)
        figures.append(
            Figure(
                SECTION,
                f"engine, chain of {length}: hop from attempt rows p50 (ms)",
                [1000 * median(h) for h in engine.db_hops],
            )
        )
        for variant in ARQ_VARIANTS:
            hops = length if variant.poll_s < 0.1 else min(length, SLOW_POLL_HOPS)
            arq = await _arq(base.queue(variant.key), variant, hops, config, window_s)
            figures += _figures(variant.label, hops, arq)
            figures.append(
                Figure(
                    SECTION,
                    f"ratio engine/{variant.label}, hop p50",
                    [
                        median(e) / median(a)
                        for e, a in zip(engine.hops, arq.hops, strict=False)
                    ],
                )
            )

    return figures


def _figures(who: str, length: int, result: ChainResult) -> list[Figure]:
    chained = f"{who}, chain of {length}"

    return [
        Figure(
            SECTION, f"{chained}: hop p50 (ms)", [1000 * median(h) for h in result.hops]
        ),
        Figure(
            SECTION,
            f"{chained}: hop p99 (ms)",
            [1000 * percentile(h, 99) for h in result.hops],
        ),
        Figure(SECTION, f"{who}: idle worker CPU (% of a core)", result.idle),
        Figure(
            SECTION,
            f"{who}: Redis server CPU meanwhile (% of a core, shared)",
            result.redis_idle,
        ),
    ]


async def _engine(
    sc: Scratch, length: int, repeat: int, window_s: float
) -> ChainResult:
    graph, warm_up = chain(length), chain(5, "bench_warm_up")
    keys = [step_key(i) for i in range(length)]
    result = ChainResult()
    async with (
        running(start_engine_workers(sc, 1)) as procs,
        client(sc.database_url, sc.redis_url, sc.queue_name, graph, warm_up) as orch,
    ):
        await run_once(orch, warm_up, timeout_s=60)
        for _ in range(repeat):
            timing = await run_once(orch, graph, timeout_s=60 + length)
            stamps = await outputs(orch, timing.run_id)
            rows = await attempt_times(orch, timing.run_id)
            result.hops.append(
                [stamps[b]["t0"] - stamps[a]["t1"] for a, b in pairwise(keys)]
            )
            result.db_hops.append([rows[b][0] - rows[a][1] for a, b in pairwise(keys)])
            await result.measure_idle(procs, sc.redis_url, window_s)

    return result


async def _arq(
    sc: Scratch, variant: ArqVariant, length: int, config: BenchConfig, window_s: float
) -> ChainResult:
    result = ChainResult()
    poll_s = variant.poll_s
    async with (
        running(start_arq_workers(sc, 1, poll_s, uvloop=variant.uvloop)) as procs,
        arq_pool(sc.redis_url, sc.queue_name) as pool,
    ):
        await _arq_chain(pool, 5, poll_s)
        for _ in range(config.repeat):
            result.hops.append(await _arq_chain(pool, length, poll_s))
            await result.measure_idle(procs, sc.redis_url, window_s)
        # The last job pushes its stamps just before it returns.
        await wait_drained(pool, sc.queue_name, timeout_s=60)

    return result


async def _arq_chain(pool: ArqRedis, length: int, poll_s: float) -> list[float]:
    """Run one chain of arq jobs; returns its hops (seconds)."""
    key = f"rr-bench:chain:{uuid.uuid4().hex}"
    await pool.enqueue_job("chain", 0, length, key)
    pushed = await pop_waiting(pool, key, 60 + length * (poll_s + 0.1))
    stamps = json.loads(pushed)
    starts = {int(k): v for k, v in stamps["starts"].items()}
    handed = {int(k): v for k, v in stamps["handed"].items()}

    return [starts[i + 1] - handed[i] for i in range(length - 1)]
