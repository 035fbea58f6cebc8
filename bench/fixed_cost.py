"""3. Fixed cost of a run: from the trigger to the first step's code, warm worker.

The engine runs a one-step graph many times in a row, each time after a random
pause (so triggers fall anywhere in the worker's poll cycle); each sample is the
step's code starting (``time.time()`` in the worker) minus the moment the
trigger was called. Shown with it: how long the trigger call itself takes and
the whole run (trigger to the run's end). Plain arq's figure is the same
interval for one job: ``enqueue_job`` called to the job's code starting. Each
row's runs are samples; ratios are of medians.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

from arq.connections import ArqRedis

from bench.arq_runs import arq_pool, pop_waiting, wait_drained
from bench.config import BenchConfig
from bench.engine_runs import client, outputs, run_once
from bench.figures import Figure, median
from bench.noop_graphs import one_step
from bench.scratch import Scratch, scratch
from bench.workers import running, start_arq_workers, start_engine_workers

SECTION = "3. fixed cost of a run"
ARQ_POLLS = (0.5, 0.001)
# Pauses are drawn up to arq's default poll, for every variant alike.
MAX_PAUSE_S = 0.5


async def measure(config: BenchConfig) -> list[Figure]:
    """Trigger-to-start latency of the engine and of plain arq."""
    samples = config.size(50, 10)
    rng = random.Random(7)
    async with scratch(config.database_url, config.redis_url, "fixed_cost") as base:
        start, call, whole = await _engine(base.queue("engine"), samples, rng)
        figures = [
            Figure(SECTION, "engine: trigger to step code start (ms)", start),
            Figure(SECTION, "engine: trigger call alone (ms)", call),
            Figure(SECTION, "engine: trigger to run finished (ms)", whole),
        ]
        for poll in ARQ_POLLS:
            arq = await _arq(base.queue(f"arq-{poll}"), poll, samples, rng)
            figures += [
                Figure(SECTION, f"arq poll {poll:g} s: enqueue to job start (ms)", arq),
                Figure(
                    SECTION,
                    f"ratio engine/arq poll {poll:g} s (medians)",
                    [median(start) / median(arq)],
                ),
            ]

    return figures


async def _engine(
    sc: Scratch, samples: int, rng: random.Random
) -> tuple[list[float], list[float], list[float]]:
    graph = one_step()
    start, call, whole = [], [], []
    async with (
        running(start_engine_workers(sc, 1)),
        client(sc.database_url, sc.redis_url, sc.queue_name, graph) as orch,
    ):
        await run_once(orch, graph, timeout_s=60)
        for _ in range(samples):
            await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
            timing = await run_once(orch, graph, timeout_s=60, every_s=0.005)
            stamp = (await outputs(orch, timing.run_id))["only"]
            start.append(1000 * (stamp["t0"] - timing.asked_at))
            call.append(1000 * (timing.triggered_at - timing.asked_at))
            whole.append(1000 * timing.elapsed_s)

    return start, call, whole


async def _arq(
    sc: Scratch, poll_s: float, samples: int, rng: random.Random
) -> list[float]:
    latencies = []
    async with (
        running(start_arq_workers(sc, 1, poll_s)),
        arq_pool(sc.redis_url, sc.queue_name) as pool,
    ):
        await _arq_once(pool)
        for _ in range(samples):
            await asyncio.sleep(rng.uniform(0, MAX_PAUSE_S))
            latencies.append(1000 * await _arq_once(pool))
        # Each job pushes its stamp just before it returns.
        await wait_drained(pool, sc.queue_name, timeout_s=60)

    return latencies


async def _arq_once(pool: ArqRedis) -> float:
    """Enqueue one ``stamp`` job; seconds until its code started."""
    key = f"rr-bench:stamp:{uuid.uuid4().hex}"
    asked = time.time()
    await pool.enqueue_job("stamp", key)
    started = float(await pop_waiting(pool, key, 60))

    return started - asked
