"""5. The flywheel over 50,000 corrections: a whole cluster_corrections run.

A scratch database gets 50,000 unprocessed corrections created in the 14 days
before T: most restate one of 400 recurring themes with a word or two changed
(as ``cluster_50k.py`` makes them), the rest are unrelated noise, and their
confidences put most themes above the 0.8 a cluster needs to be drafted. One
worker process (local providers, as a deployment without ``LLM_PROVIDER``) runs
the graph fetch → embed → cluster → draft → store; the run is timed from its
trigger to its end, each step from its attempt's start to its end, and the
worker's peak resident memory is read when it is stopped.

    .venv/bin/python -m bench.run_all --only jobs
"""

from __future__ import annotations

import random
import time
from datetime import timedelta

import asyncpg

import graphs.cluster_corrections as flywheel
from bench.cluster_50k import synthetic_texts
from bench.config import BenchConfig
from bench.engine_runs import T, attempt_times, client, outputs, run_once
from bench.figures import Figure
from bench.scratch import Scratch, admin_dsn, scratch
from bench.workers import start_engine_workers, stop
from tasks.flywheel import WINDOW

SECTION = "5. the jobs at scale"
MIB = 2**20
STEPS = ("fetch", "embed", "cluster", "draft", "store")
THEMES = 400
NOISE = 0.2
SEED = 11

COLUMNS = (
    "id",
    "rule_id",
    "evaluation_id",
    "analysis_type",
    "status",
    "delta_summary",
    "confidence",
    "created_at",
)


def correction_rows(n: int) -> list[tuple[object, ...]]:
    """``n`` unprocessed corrections spread over the window before T.

    Confidences are drawn from 0.72 to 0.98 (mean 0.85), so a cluster of a few
    dozen almost always has a mean above 0.8 and is drafted.
    """
    rng = random.Random(SEED)
    texts = synthetic_texts(n, THEMES, NOISE, SEED)
    window_s = WINDOW.total_seconds()

    return [
        (
            f"C-{i:06d}",
            f"R-{rng.randrange(2_000)}",
            f"E-{i}",
            rng.choice(("false_positive", "false_negative")),
            "unprocessed",
            text,
            round(rng.uniform(0.72, 0.98), 3),
            T - timedelta(seconds=rng.uniform(1, window_s - 1)),
        )
        for i, text in enumerate(texts)
    ]


async def measure(config: BenchConfig) -> list[Figure]:
    """One run of cluster_corrections over the seeded corrections."""
    corrections = config.size(50_000, 5_000)
    async with scratch(config.database_url, config.redis_url, "flywheel") as sc:
        return await _run(sc, corrections)


async def _run(sc: Scratch, corrections: int) -> list[Figure]:
    label = f"flywheel, {corrections:,} corrections"
    started = time.perf_counter()
    conn = await asyncpg.connect(admin_dsn(sc.database_url))
    try:
        await conn.copy_records_to_table(
            "corrections", records=correction_rows(corrections), columns=COLUMNS
        )
        await conn.execute("ANALYZE corrections")
    finally:
        await conn.close()
    seeded_s = time.perf_counter() - started

    async with client(
        sc.database_url, sc.redis_url, sc.queue_name, flywheel.GRAPH
    ) as orch:
        (worker,) = await start_engine_workers(sc, 1)
        try:
            timing = await run_once(orch, flywheel.GRAPH, timeout_s=1800, every_s=0.1)
        finally:
            await stop(worker)
        steps = await attempt_times(orch, timing.run_id)
        out = await outputs(orch, timing.run_id)

    store = out["store"]
    figures = [
        Figure(SECTION, f"{label}: seed (s)", [seeded_s]),
        Figure(SECTION, f"{label}: run, trigger to end (s)", [timing.elapsed_s]),
    ]
    figures += [
        Figure(SECTION, f"{label}: step {key} (s)", [steps[key][1] - steps[key][0]])
        for key in STEPS
    ]
    figures += [
        Figure(
            SECTION,
            f"{label}: clusters of 3 or more",
            [float(len(out["cluster"]["clusters"]))],
        ),
        Figure(SECTION, f"{label}: proposals stored", [float(len(store["proposals"]))]),
        Figure(
            SECTION,
            f"{label}: corrections marked processed",
            [float(store["corrections_processed"])],
        ),
        Figure(
            SECTION,
            f"{label}: peak RSS of the worker (MiB)",
            [worker.max_rss_bytes / MIB],
        ),
    ]

    return figures
