"""1. Throughput: no-op steps of one wide run against plain arq jobs.

The engine runs one graph of N independent no-op steps (all ready when the run
starts); arq runs N no-op jobs enqueued one by one. Each is timed from the
trigger (or the first enqueue) to the last step's (job's) end, with one and with
two worker processes, every worker warmed up first. arq is measured at its
default poll (0.5 s), at a tight one (0.001 s), and at the tight one on uvloop,
the event loop the engine's workers run on (arq's own default is asyncio's).

Each repeat measures the engine and then every arq variant, each with worker
processes of its own started for it, so that the ratio of one repeat compares
runs made seconds apart: this machine's speed drifts by more than ten per cent
over minutes, which would bias ratios of runs grouped by kind.
"""

from __future__ import annotations

import time

from bench.arq_runs import ArqVariant, arq_pool, enqueue_many, wait_drained
from bench.config import BenchConfig
from bench.engine_runs import client, run_once
from bench.figures import Figure, ratios
from bench.noop_graphs import wide
from bench.scratch import Scratch, scratch
from bench.workers import running, start_arq_workers, start_engine_workers

SECTION = "1. throughput"
WARM_UP = 20


ARQ_VARIANTS = (ArqVariant(0.5), ArqVariant(0.001), ArqVariant(0.001, uvloop=True))


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
    engine: list[float] = []
    trigger_s: list[float] = []
    arq: dict[ArqVariant, list[float]] = {v: [] for v in ARQ_VARIANTS}
    for index in range(repeat):
        sc = base.queue(f"engine{processes}-{index}")
        rate, triggered = await _engine(sc, steps, processes)
        engine.append(rate)
        trigger_s.append(triggered)
        for variant in ARQ_VARIANTS:
            sc = base.queue(f"{variant.key}{processes}-{index}")
            arq[variant].append(await _arq(sc, steps, processes, variant))
    figures = [Figure(SECTION, f"engine, {label} (steps/s)", engine)]
    if processes == 1:
        figures.append(
            Figure(
                SECTION,
                f"engine: trigger call for {steps:,} steps (ms)",
                [1000 * s for s in trigger_s],
            )
        )
    for variant in ARQ_VARIANTS:
        figures += [
            Figure(SECTION, f"{variant.label}, {label} (jobs/s)", arq[variant]),
            Figure(
                SECTION,
                f"ratio engine/{variant.label}, {processes} proc.",
                ratios(engine, arq[variant]),
            ),
        ]

    return figures


async def _engine(sc: Scratch, steps: int, processes: int) -> tuple[float, float]:
    """One measured run on fresh workers: steps per second, and the trigger's
    own duration (seconds)."""
    graph, warm_up = wide(steps), wide(WARM_UP, "bench_warm_up")
    async with (
        running(start_engine_workers(sc, processes)),
        client(sc.database_url, sc.redis_url, sc.queue_name, graph, warm_up) as orch,
    ):
        await run_once(orch, warm_up, timeout_s=60)
        timing = await run_once(orch, graph, timeout_s=60 + steps / 10)

    return steps / timing.elapsed_s, timing.triggered_at - timing.asked_at


async def _arq(sc: Scratch, jobs: int, processes: int, variant: ArqVariant) -> float:
    """One measured batch on fresh workers: jobs per second."""
    async with (
        running(
            start_arq_workers(sc, processes, variant.poll_s, uvloop=variant.uvloop)
        ),
        arq_pool(sc.redis_url, sc.queue_name) as pool,
    ):
        await enqueue_many(pool, "noop", WARM_UP)
        await wait_drained(pool, sc.queue_name, timeout_s=60)
        asked = time.time()
        await enqueue_many(pool, "noop", jobs)
        done = await wait_drained(pool, sc.queue_name, timeout_s=60 + jobs / 10)

    return jobs / (done - asked)
