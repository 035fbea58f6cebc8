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

With one worker process, each measured stretch also reports where its CPU went
(``bench/cpu.py``): per step (job), the workers', the PostgreSQL server's and
the Redis server's CPU, and how busy the machine's cores were together. On two
cores the engine's worker and PostgreSQL compete for the same cores, so this
is what bounds the engine's rate (arq's jobs touch no database).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import psutil
from redis.asyncio import Redis

from bench.arq_runs import ArqVariant, arq_pool, enqueue_many, wait_drained
from bench.config import BenchConfig
from bench.cpu import CpuUse, read_cpu, used_between
from bench.engine_runs import client, run_once
from bench.figures import Figure, ratios
from bench.noop_graphs import wide
from bench.scratch import Scratch, scratch
from bench.workers import running, start_arq_workers, start_engine_workers

SECTION = "1. throughput"
WARM_UP = 20


ARQ_VARIANTS = (ArqVariant(0.5), ArqVariant(0.001), ArqVariant(0.001, uvloop=True))
# Those whose CPU per job is shown: the tight polls, which compete on speed.
CPU_SHOWN = tuple(v for v in ARQ_VARIANTS if v.poll_s < 0.5)


@dataclass(frozen=True)
class Measured:
    """One measured stretch: its rate and where its CPU went."""

    rate: float
    cpu: CpuUse


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
    engine: list[Measured] = []
    trigger_s: list[float] = []
    arq: dict[ArqVariant, list[Measured]] = {v: [] for v in ARQ_VARIANTS}
    for index in range(repeat):
        sc = base.queue(f"engine{processes}-{index}")
        measured, triggered = await _engine(sc, steps, processes)
        engine.append(measured)
        trigger_s.append(triggered)
        for variant in ARQ_VARIANTS:
            sc = base.queue(f"{variant.key}{processes}-{index}")
            arq[variant].append(await _arq(sc, steps, processes, variant))
    rates = [m.rate for m in engine]
    figures = [Figure(SECTION, f"engine, {label} (steps/s)", rates)]
    if processes == 1:
        figures.append(
            Figure(
                SECTION,
                f"engine: trigger call for {steps:,} steps (ms)",
                [1000 * s for s in trigger_s],
            )
        )
        figures += _cpu_rows("engine", "step", engine, steps)
    for variant in ARQ_VARIANTS:
        figures += [
            Figure(
                SECTION,
                f"{variant.label}, {label} (jobs/s)",
                [m.rate for m in arq[variant]],
            ),
            Figure(
                SECTION,
                f"ratio engine/{variant.label}, {processes} proc.",
                ratios(rates, [m.rate for m in arq[variant]]),
            ),
        ]
        if processes == 1 and variant in CPU_SHOWN:
            figures += _cpu_rows(variant.label, "job", arq[variant], steps)

    return figures


def _cpu_rows(label: str, item: str, runs: list[Measured], items: int) -> list[Figure]:
    """CPU per step (job) of the workers and servers, and the machine's load."""
    per_item: dict[str, list[float | None]] = {
        "worker process": [r.cpu.workers_s for r in runs],
        "PostgreSQL server": [r.cpu.postgres_s for r in runs],
        "Redis server": [r.cpu.redis_s for r in runs],
    }
    # PostgreSQL reads None when its server is not on this machine.
    rows = [
        Figure(SECTION, f"{label}, 1 proc.: CPU per {item}, {who} (ms)", ms)
        for who, seconds in per_item.items()
        if None not in seconds
        and (ms := [1000 * s / items for s in seconds if s is not None])
    ]
    rows.append(
        Figure(
            SECTION,
            f"{label}, 1 proc.: the {psutil.cpu_count()} cores busy (%)",
            [r.cpu.machine_busy_pct for r in runs],
        )
    )

    return rows


async def _engine(sc: Scratch, steps: int, processes: int) -> tuple[Measured, float]:
    """One measured run on fresh workers: its rate and CPU, and the trigger's
    own duration (seconds)."""
    graph, warm_up = wide(steps), wide(WARM_UP, "bench_warm_up")
    async with (
        running(start_engine_workers(sc, processes)) as procs,
        client(sc.database_url, sc.redis_url, sc.queue_name, graph, warm_up) as orch,
        Redis.from_url(sc.redis_url) as redis,
    ):
        await run_once(orch, warm_up, timeout_s=60)
        before = await read_cpu(procs, redis)
        timing = await run_once(orch, graph, timeout_s=60 + steps / 10)
        cpu = used_between(before, await read_cpu(procs, redis))

    measured = Measured(steps / timing.elapsed_s, cpu)

    return measured, timing.triggered_at - timing.asked_at


async def _arq(sc: Scratch, jobs: int, processes: int, variant: ArqVariant) -> Measured:
    """One measured batch on fresh workers: jobs per second, and its CPU."""
    async with (
        running(
            start_arq_workers(sc, processes, variant.poll_s, uvloop=variant.uvloop)
        ) as procs,
        arq_pool(sc.redis_url, sc.queue_name) as pool,
    ):
        await enqueue_many(pool, "noop", WARM_UP)
        await wait_drained(pool, sc.queue_name, timeout_s=60)
        before = await read_cpu(procs, pool)
        asked = time.time()
        await enqueue_many(pool, "noop", jobs)
        done = await wait_drained(pool, sc.queue_name, timeout_s=60 + jobs / 10)
        cpu = used_between(before, await read_cpu(procs, pool))

    return Measured(jobs / (done - asked), cpu)
