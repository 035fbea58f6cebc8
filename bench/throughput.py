"""1. Throughput: no-op steps of one wide run against plain arq jobs.

The engine runs one graph of N independent no-op steps (all ready when the run
starts); arq runs N no-op jobs enqueued one by one. Each is timed from the
trigger (or the first enqueue) to the last step's (job's) end, with one and with
two worker processes, every worker warmed up first. arq is measured at its
default poll (0.5 s) and at a tight one (0.001 s).
"""

from __future__ import annotations

import time

from bench.arq_runs import arq_pool, enqueue_many, wait_drained
from bench.config import BenchConfig
from bench.engine_runs import client, run_once
from bench.figures import Figure, ratios
from bench.noop_graphs import wide
from bench.scratch import Scratch, scratch
from bench.workers import running, start_arq_workers, start_engine_workers

SECTION = "1. throughput"
ARQ_POLLS = (0.5, 0.001)
WARM_UP = 20


async def measure(config: BenchConfig) -> list[Figure]:
    """Steps (jobs) per second, with one and two worker processes."""
    steps = config.size(5_000, 300)
    figures: list[Figure] = []
    async with scratch(config.database_url, config.redis_url, "throughput") as base:
        for processes in (1, 2):
            figures += await _compare(base, steps, processes, config.repeat)

    return figures


async def _compare(
    base: Scratch, steps: int, processes: int, repeat: int
) -> list[Figure]:
    label = f"{steps:,} no-op steps, {processes} worker process"
    label += "es" if processes > 1 else ""
    engine, trigger_s = await _engine(
        base.queue(f"engine{processes}"), steps, processes, repeat
    )
    figures = [Figure(SECTION, f"engine, {label} (steps/s)", engine)]
    if processes == 1:
        figures.append(
            Figure(
                SECTION,
                f"engine: trigger call for {steps:,} steps (ms)",
                [1000 * s for s in trigger_s],
            )
        )
    for poll in ARQ_POLLS:
        rates = await _arq(
            base.queue(f"arq{processes}-{poll}"), steps, processes, poll, repeat
        )
        figures += [
            Figure(SECTION, f"arq poll {poll:g} s, {label} (jobs/s)", rates),
            Figure(
                SECTION,
                f"ratio engine/arq poll {poll:g} s, {processes} proc.",
                ratios(engine, rates),
            ),
        ]

    return figures


async def _engine(
    sc: Scratch, steps: int, processes: int, repeat: int
) -> tuple[list[float], list[float]]:
    graph, warm_up = wide(steps), wide(WARM_UP, "bench_warm_up")
    timeout_s = 60 + steps / 10
    rates, trigger_s = [], []
    async with (
        running(start_engine_workers(sc, processes)),
        client(sc.database_url, sc.redis_url, sc.queue_name, graph, warm_up) as orch,
    ):
        await run_once(orch, warm_up, timeout_s=60)
        for _ in range(repeat):
            timing = await run_once(orch, graph, timeout_s=timeout_s)
            rates.append(steps / timing.elapsed_s)
            trigger_s.append(timing.triggered_at - timing.asked_at)

    return rates, trigger_s


async def _arq(
    sc: Scratch, jobs: int, processes: int, poll_s: float, repeat: int
) -> list[float]:
    timeout_s = 60 + jobs / 10
    rates = []
    async with (
        running(start_arq_workers(sc, processes, poll_s)),
        arq_pool(sc.redis_url, sc.queue_name) as pool,
    ):
        await enqueue_many(pool, "noop", WARM_UP)
        await wait_drained(pool, sc.queue_name, timeout_s=60)
        for _ in range(repeat):
            asked = time.time()
            await enqueue_many(pool, "noop", jobs)
            done = await wait_drained(pool, sc.queue_name, timeout_s=timeout_s)
            rates.append(jobs / (done - asked))

    return rates
