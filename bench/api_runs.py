"""Benchmark: ``GET /api/v1/runs`` on 100,000 runs, first page against a deep one.

Creates a scratch database on the server of ``DATABASE_URL`` (default the local
PostgreSQL), migrates it, seeds the runs set-based (``INSERT ... SELECT
generate_series``, a few steps each), serves the API with uvicorn on a loopback
port, walks the pages with their cursors down to page ``--deep``, then times
``--requests`` requests of the first page and of that deep page. Keyset pages
cost the same at any depth, so the deep page's p99 must stay within twice the
first page's; the script exits 1 otherwise. The database is dropped at the end.

    .venv/bin/python bench/api_runs.py [--runs 100000] [--deep 500] [--requests 200]
    .venv/bin/python bench/api_runs.py --quick   # 10,000 runs, page 50, 50 requests
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import sys
import time
import uuid

import asyncpg
import httpx
import uvicorn
from sqlalchemy.engine import make_url

from api import create_app
from orchestrator.config import Settings
from orchestrator.migrate import upgrade

SEED = [
    """
    INSERT INTO runs (id, graph_name, graph_hash, definition, status, trigger, actor,
                      logical_time, params, trace_id, created_at, started_at,
                      finished_at)
    SELECT md5('run' || i)::uuid,
           (ARRAY['compute_health_scores', 'cluster_corrections',
                  'generate_recommendations', 'detect_verdict_drift',
                  'propagate_norm_amendment'])[1 + i % 5],
           'bench', '{}',
           CASE WHEN i % 17 = 0 THEN 'failed' ELSE 'succeeded' END,
           'schedule', 'schedule',
           timestamptz '2026-01-01Z' + i * interval '1 minute', '{}',
           md5('trace' || i),
           timestamptz '2026-01-01Z' + i * interval '1 minute' + interval '2 s',
           timestamptz '2026-01-01Z' + i * interval '1 minute' + interval '3 s',
           timestamptz '2026-01-01Z' + i * interval '1 minute' + interval '9 s'
    FROM generate_series(1, :runs) i
    """,
    """
    INSERT INTO step_runs (run_id, step_key, task, status, params, attempt,
                           budget_start, max_attempts, timeout_s, retry_policy,
                           started_at, finished_at)
    SELECT md5('run' || i)::uuid, 'step-' || s, 'task_' || s,
           CASE WHEN i % 17 = 0 AND s = 3 THEN 'failed' ELSE 'succeeded' END,
           '{}', 1, 1, 3, 600, '{}',
           timestamptz '2026-01-01Z' + i * interval '1 minute' + s * interval '1 s',
           timestamptz '2026-01-01Z' + i * interval '1 minute' + s * interval '2 s'
    FROM generate_series(1, :runs) i, generate_series(1, 3) s
    """,
    "ANALYZE runs",
    "ANALYZE step_runs",
]


def _url(base: str, database: str) -> str:
    return make_url(base).set(database=database).render_as_string(hide_password=False)


def _dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _create(base: str, name: str, runs: int) -> str:
    admin = await asyncpg.connect(
        _dsn(_url(base, make_url(base).database or "postgres"))
    )
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    url = _url(base, name)
    await asyncio.to_thread(upgrade, url)
    conn = await asyncpg.connect(_dsn(url))
    started = time.perf_counter()
    for statement in SEED:
        await conn.execute(statement.replace(":runs", str(runs)))
    print(
        f"seeded {runs:,} runs with 3 steps each in {time.perf_counter() - started:.1f} s"
    )
    await conn.close()
    return url


async def _drop(base: str, name: str) -> None:
    admin = await asyncpg.connect(
        _dsn(_url(base, make_url(base).database or "postgres"))
    )
    await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await admin.close()


def _port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def _time(
    client: httpx.AsyncClient, pages: list[dict[str, str]], n: int
) -> list[list[float]]:
    """``n`` timings (ms) of each page, the pages requested in turn, so that
    anything else the machine does falls on both series alike."""
    timings: list[list[float]] = [[] for _ in pages]
    for _ in range(n):
        for series, params in zip(timings, pages, strict=True):
            started = time.perf_counter()
            response = await client.get("/api/v1/runs", params=params)
            series.append((time.perf_counter() - started) * 1000)
            response.raise_for_status()
    return timings


def _figures(name: str, timings: list[float]) -> float:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    print(
        f"{name:>12}: median {statistics.median(ordered):6.2f} ms   "
        f"p99 {p99:6.2f} ms   ({len(ordered)} requests)"
    )
    return p99


async def _measure(url: str, redis_url: str, deep: int, requests: int) -> bool:
    settings = Settings(database_url=url, redis_url=redis_url, api_token=None)
    port = _port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=port, log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(400):
        if server.started or task.done():
            break
        await asyncio.sleep(0.05)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            cursor = None
            for _ in range(deep - 1):
                params = {"limit": "50", **({"cursor": cursor} if cursor else {})}
                cursor = (await client.get("/api/v1/runs", params=params)).json()[
                    "next_cursor"
                ]
            assert cursor is not None, "fewer pages than --deep"
            pages = [{"limit": "50"}, {"limit": "50", "cursor": cursor}]
            await _time(client, pages, 20)
            first_ms, deep_ms = await _time(client, pages, requests)
            first = _figures("first page", first_ms)
            deep_p99 = _figures(f"page {deep}", deep_ms)
    finally:
        server.should_exit = True
        await task
    ok = deep_p99 <= 2 * first
    print(
        f"deep p99 / first p99 = {deep_p99 / first:.2f} ({'ok' if ok else 'TOO SLOW'})"
    )
    return ok


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--deep", type=int, default=500)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument(
        "--quick",
        action="store_true",
        help="10,000 runs, page 50, 50 requests: checks the script, not figures",
    )
    args = parser.parse_args()
    if args.quick:
        args.runs, args.deep, args.requests = 10_000, 50, 50
    base = os.environ.get(
        "DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
    )
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    name = f"rr_bench_{uuid.uuid4().hex[:8]}"
    try:
        url = await _create(base, name, args.runs)
        ok = await _measure(url, redis_url, args.deep, args.requests)
    finally:
        await _drop(base, name)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
