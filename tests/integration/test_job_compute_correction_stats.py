"""compute_correction_stats against PostgreSQL: the hour before T, re-runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from graphs.compute_correction_stats import GRAPH
from tasks.schema import Correction
from tests.support.engine import Harness, harness
from tests.support.jobs import (
    Sessions,
    check_idempotent_through_worker,
    insert,
    run_graph_tasks,
)

T = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
SECOND = timedelta(seconds=1)


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


def correction(
    cid: str, at: datetime, kind: str = "false_positive", status: str = "unprocessed"
) -> Correction:
    return Correction(
        id=cid,
        rule_id="R-1",
        analysis_type=kind,
        status=status,
        delta_summary="too broad",
        confidence=0.9,
        created_at=at,
    )


async def stats(sessions: Sessions) -> dict[tuple[datetime, str, str], int]:
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT bucket_start, analysis_type, status, count FROM correction_stats"
            )
        )
        return {(b, k, s): c for b, k, s, c in rows}


def test_graph_counts_hourly_at_minute_zero() -> None:
    """The graph is one count step, every hour at minute 0."""
    assert GRAPH.topological_keys() == ["count"]
    assert GRAPH.schedule == "0 * * * *"


async def test_correction_stats_count_the_hour_ending_at_t(sessions: Sessions) -> None:
    """Corrections from T - 1 h (included) to T (excluded), by type and status."""
    await insert(
        sessions,
        correction("C-1", T - HOUR),
        correction("C-2", T - SECOND),
        correction("C-3", T - HOUR, status="processed"),
        correction("C-4", T - HOUR, kind="false_negative"),
        correction("C-5", T - HOUR - SECOND),
        correction("C-6", T),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    bucket = T - HOUR
    assert await stats(sessions) == {
        (bucket, "false_positive", "unprocessed"): 2,
        (bucket, "false_positive", "processed"): 1,
        (bucket, "false_negative", "unprocessed"): 1,
    }


async def test_correction_stats_rerun_replaces_its_hour(sessions: Sessions) -> None:
    """A re-run of an hour replaces its figures and leaves other hours alone."""
    await insert(sessions, correction("C-1", T - HOUR), correction("C-2", T - 2 * HOUR))
    await run_graph_tasks(sessions, GRAPH, T - HOUR)
    await run_graph_tasks(sessions, GRAPH, T)

    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE corrections SET status = 'processed' WHERE id = 'C-1'")
        )
    await run_graph_tasks(sessions, GRAPH, T)

    assert await stats(sessions) == {
        (T - 2 * HOUR, "false_positive", "unprocessed"): 1,
        (T - HOUR, "false_positive", "processed"): 1,
    }


async def test_correction_stats_graph_is_idempotent_through_a_worker(
    h: Harness,
) -> None:
    """Two runs for one hour and a re-run of count leave identical figures."""
    await insert(
        h.client.sessions,
        correction("C-1", T - HOUR),
        correction("C-2", T - SECOND, kind="false_negative"),
    )

    _, tables = await check_idempotent_through_worker(
        h, GRAPH.name, T, ["correction_stats"], "count"
    )

    assert len(tables["correction_stats"]) == 2
