"""Benchmark: compute_health_scores over 10,000 rules and 1,000,000 evaluations.

Creates a scratch database next to ``DATABASE_URL``'s, migrates it, seeds it with
``generate_series`` (rules, translations, evaluations spread over the 120 days
before T, judgments over the 100 days before T), then times the graph's two
steps, each in its own transaction as the engine runs them, twice (the second
pass is a re-run for the same T: upserts instead of inserts). Prints the figures
and drops the scratch database.

    DATABASE_URL=postgresql://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python -m bench.health_1m [--rules 10000] [--evaluations 1000000]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import asyncpg
from sqlalchemy import text

from bench.arguments import positive_int, script_parser
from bench.scratch import (
    ServersUnreachableError,
    admin_dsn,
    check_database,
    with_database,
)
from bench.stopping import run_until_stopped
from orchestrator.context import StepContext
from orchestrator.db import make_engine, make_sessionmaker
from orchestrator.migrate import upgrade_async
from tasks.health import alert_on_health, score_rules

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)

SEED = [
    """
    INSERT INTO rules (id, title, text, locale, version, maturity, status, created_at,
                       review_interval_days, last_reviewed_at, review_requested_at,
                       legal_hold, scope, effect, required_locales, examples, source)
    SELECT 'R-' || i, 'Rule ' || i, 'Text of rule ' || i, 'en', 1 + (i % 3 = 0)::int,
           'experimental',
           CASE WHEN i % 50 = 0 THEN 'deprecated' ELSE 'active' END,
           CAST(:t AS timestamptz) - (30 + i % 400) * interval '1 day', 90 + i % 300,
           CASE WHEN i % 4 = 0 THEN NULL
                ELSE CAST(:t AS timestamptz) - (i % 200) * interval '1 day' END,
           CASE WHEN i % 17 = 0 THEN CAST(:t AS timestamptz) - (i % 20) * interval '1 day' END,
           false, 'bench', 'deny', ARRAY['en', 'fr', 'de', 'es'], '[]', 'bench'
    FROM generate_series(1, :rules) AS i
    """,
    """
    INSERT INTO translations (rule_id, locale, text, source_version)
    SELECT 'R-' || i, l, 'translation', CASE WHEN l = 'fr' THEN 1 ELSE 2 END
    FROM generate_series(1, :rules) AS i, unnest(ARRAY['fr', 'de']) AS l
    """,
    """
    INSERT INTO evaluations (id, rule_id, verdict, created_at)
    SELECT 'E-' || g, 'R-' || (1 + (g * 7919) % :rules),
           CASE WHEN (g / 7) % 10 < 3 THEN 'deny' ELSE 'allow' END,
           CAST(:t AS timestamptz) - ((g * 104729) % (120 * 86400) + 1) * interval '1 second'
    FROM generate_series(CAST(1 AS bigint), :evaluations) AS g
    """,
    """
    INSERT INTO judgments (id, evaluation_id, rule_id, outcome, created_at)
    SELECT 'J-' || g, 'E-' || (g * 5), 'R-' || (1 + (g * 5 * 7919) % :rules),
           (ARRAY['correct', 'correct', 'correct', 'false_positive',
                  'false_negative'])[1 + g % 5],
           CAST(:t AS timestamptz) - ((g * 15485863) % (100 * 86400) + 1) * interval '1 second'
    FROM generate_series(CAST(1 AS bigint), :evaluations / 5) AS g
    """,
    "ANALYZE",
]


async def _run_step(sessions: Any, fn: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    async with sessions() as session, session.begin():
        ctx = StepContext(
            run_id=uuid.uuid4(),
            graph_name="compute_health_scores",
            step_key=fn.task_name,
            attempt=1,
            logical_time=T,
            trigger="cli",
            actor="bench",
            params={},
            inputs={},
            session=session,
        )
        output = await fn(ctx)

    return time.perf_counter() - started, output


async def bench(base_url: str, rules: int, evaluations: int) -> None:
    """Seed a scratch database, time both steps twice, print, drop it."""
    out = sys.stdout
    name = f"rr_bench_health_{os.getpid()}"
    admin = await asyncpg.connect(admin_dsn(base_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(base_url, name)
    engine = make_engine(url)
    try:
        await upgrade_async(url)
        sessions = make_sessionmaker(engine)
        started = time.perf_counter()
        async with sessions() as session, session.begin():
            for statement in SEED:
                await session.execute(
                    text(statement),
                    {"t": T, "rules": rules, "evaluations": evaluations},
                )
        out.write(
            f"seeded {rules:,} rules, {evaluations:,} evaluations and "
            f"{evaluations // 5:,} judgments in {time.perf_counter() - started:.1f} s\n"
        )
        for label in ("first run", "re-run for the same T"):
            score_s, scored = await _run_step(sessions, score_rules)
            alert_s, alerted = await _run_step(sessions, alert_on_health)
            counts = {k: v["affected"] for k, v in alerted.items()}
            out.write(
                f"{label}: score {score_s:.2f} s ({scored['rules']:,} rules), "
                f"alert {alert_s:.2f} s {counts}; total {score_s + alert_s:.2f} s\n"
            )
    finally:
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


def main() -> None:
    """Parse the arguments and run the benchmark."""
    parser = script_parser(__doc__)
    parser.add_argument(
        "--rules", type=positive_int, default=10_000, help="active rules to score"
    )
    parser.add_argument(
        "--evaluations",
        type=positive_int,
        default=1_000_000,
        help="evaluations spread over the rules",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL"),
        help="a server to create the scratch database on (DATABASE_URL)",
    )
    args = parser.parse_args()
    if not args.database_url:
        parser.error("set DATABASE_URL or pass --database-url")
    sys.exit(run_until_stopped(_main(args)))


async def _main(args: argparse.Namespace) -> int:
    try:
        await check_database(args.database_url)
    except ServersUnreachableError as exc:
        sys.stderr.write(f"bench.health_1m: {exc}\n")
        return 2
    await bench(args.database_url, args.rules, args.evaluations)

    return 0


if __name__ == "__main__":
    main()
