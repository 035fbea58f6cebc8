"""4. Scale of one run: a root step, then N leaves that all wait for it.

The engine's run of 1 + N no-op steps is timed from the trigger to the run's
end; plain arq's counterpart is a root job that enqueues N no-op jobs (one by
one, as arq offers), timed from its enqueue until the queue is empty. Each is
shown as time per step, at two sizes, with the ratio of the per-step times
(10,000 against 1,000 at full size: 1.0 means linear). The larger size runs
once.
"""

from __future__ import annotations

import time

from bench.arq_runs import arq_pool, wait_drained
from bench.config import BenchConfig
from bench.engine_runs import client, run_once
from bench.figures import Figure, median, ratios
from bench.noop_graphs import fan_out, wide
from bench.scratch import Scratch, scratch
from bench.workers import running, start_arq_workers, start_engine_workers

SECTION = "4. scale of one run (fan-out)"
ARQ_POLLS = (0.5, 0.001)


async def measure(config: BenchConfig) -> list[Figure]:
    """Milliseconds per step at a small and a large fan-out."""
    small, large = config.size(1_000, 100), config.size(10_000, 1_000)
    runs = {small: config.repeat, large: 1}
    figures: list[Figure] = []
    async with scratch(config.database_url, config.redis_url, "fan_out") as base:
        engine = await _engine(base.queue("engine"), runs)
        figures += _rows("engine", engine, small, large)
        for poll in ARQ_POLLS:
            arq = await _arq(base.queue(f"arq-{poll}"), poll, runs)
            figures += _rows(f"arq poll {poll:g} s", arq, small, large)
            for size in (small, large):
                figures.append(
                    Figure(
                        SECTION,
                        f"ratio engine/arq poll {poll:g} s per step, {size:,} leaves",
                        ratios(engine[size], arq[size]),
                    )
                )

    return figures


def _rows(
    label: str, per_step: dict[int, list[float]], small: int, large: int
) -> list[Figure]:
    rows = [
        Figure(SECTION, f"{label}: {size:,} leaves (ms per step)", per_step[size])
        for size in (small, large)
    ]
    rows.append(
        Figure(
            SECTION,
            f"{label}: ratio of per-step times, {large:,} / {small:,} leaves",
            [median(per_step[large]) / median(per_step[small])],
        )
    )

    return rows


async def _engine(sc: Scratch, runs: dict[int, int]) -> dict[int, list[float]]:
    graphs = {size: fan_out(size, f"bench_fan_out_{size}") for size in runs}
    warm_up = wide(20, "bench_warm_up")
    per_step: dict[int, list[float]] = {}
    async with (
        running(start_engine_workers(sc, 1)),
        client(
            sc.database_url, sc.redis_url, sc.queue_name, warm_up, *graphs.values()
        ) as orch,
    ):
        await run_once(orch, warm_up, timeout_s=60)
        for size, count in runs.items():
            for _ in range(count):
                timing = await run_once(orch, graphs[size], timeout_s=120 + size / 5)
                per_step.setdefault(size, []).append(
                    1000 * timing.elapsed_s / (size + 1)
                )

    return per_step


async def _arq(
    sc: Scratch, poll_s: float, runs: dict[int, int]
) -> dict[int, list[float]]:
    per_step: dict[int, list[float]] = {}
    async with (
        running(start_arq_workers(sc, 1, poll_s)),
        arq_pool(sc.redis_url, sc.queue_name) as pool,
    ):
        await pool.enqueue_job("fan_out", 20)
        await wait_drained(pool, sc.queue_name, timeout_s=60)
        for size, count in runs.items():
            for _ in range(count):
                asked = time.time()
                await pool.enqueue_job("fan_out", size)
                done = await wait_drained(pool, sc.queue_name, timeout_s=120 + size / 5)
                per_step.setdefault(size, []).append(1000 * (done - asked) / (size + 1))

    return per_step
