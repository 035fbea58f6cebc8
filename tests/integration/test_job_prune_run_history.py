"""prune_run_history against PostgreSQL: what is old, finished, and not itself."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from graphs.prune_run_history import GRAPH
from orchestrator.config import Settings
from orchestrator.context import StepContext
from orchestrator.engine import TriggerRejectedError
from orchestrator.models import (
    AttemptRow,
    ExpansionRow,
    RunRow,
    StepEdgeRow,
    StepRunRow,
)
from tasks.retention import prune_runs
from tests.support.engine import Harness, harness
from tests.support.jobs import (
    DAY,
    Sessions,
    check_idempotent_through_worker,
    run_task,
)

T = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)
CUTOFF = T - 90 * DAY
SECOND = timedelta(seconds=1)
TABLES = [
    "(SELECT * FROM runs WHERE graph_name = 'history')",
    *(
        f"(SELECT x.* FROM {table} x JOIN runs r ON r.id = x.run_id"
        " WHERE r.graph_name = 'history')"
        for table in ("step_runs", "step_edges", "attempts", "expansions")
    ),
]


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


async def add_run(
    sessions: Sessions,
    name: str,
    status: str,
    finished_at: datetime | None,
    created_at: datetime | None = None,
) -> uuid.UUID:
    """A run of graph 'history' with two steps, an edge, attempts, an expansion."""
    run_id = uuid.uuid5(uuid.NAMESPACE_URL, name)
    created = created_at or (finished_at or T) - timedelta(minutes=5)
    policy = {"max_attempts": 3}
    async with sessions() as session, session.begin():
        session.add(
            RunRow(
                id=run_id,
                graph_name="history",
                graph_hash="h",
                definition={},
                status=status,
                trigger="cli",
                actor=name,
                logical_time=created,
                params={},
                created_at=created,
                finished_at=finished_at,
            )
        )
        await session.flush()
        for key in ("a", "b"):
            session.add(
                StepRunRow(
                    run_id=run_id,
                    step_key=key,
                    task="t",
                    status=status,
                    params={},
                    attempt=1,
                    budget_start=1,
                    max_attempts=3,
                    timeout_s=60.0,
                    retry_policy=policy,
                )
            )
        await session.flush()
        session.add(StepEdgeRow(run_id=run_id, upstream="a", downstream="b"))
        for key in ("a", "b"):
            session.add(
                AttemptRow(
                    run_id=run_id,
                    step_key=key,
                    attempt=1,
                    status="succeeded",
                    job_id=f"{run_id}:{key}",
                    deliveries=1,
                )
            )
        session.add(ExpansionRow(run_id=run_id, step_key="a", steps=[], edges=[]))

    return run_id


async def remaining(sessions: Sessions) -> dict[str, set[str]]:
    """Actors of the 'history' runs left, per table holding their rows."""
    found: dict[str, set[str]] = {}
    async with sessions() as session:
        for table in ("runs", "step_runs", "step_edges", "attempts", "expansions"):
            column = "id" if table == "runs" else "run_id"
            rows = await session.execute(
                text(
                    f"SELECT DISTINCT r.actor FROM {table} x JOIN runs r"
                    f" ON r.id = x.{column} WHERE r.graph_name = 'history'"
                )
            )
            found[table] = {a for (a,) in rows}
    return found


def test_graph_prunes_daily_at_one_and_refuses_the_future() -> None:
    """One prune step, daily at 01:00, refusing a future logical time."""
    assert GRAPH.topological_keys() == ["prune"]
    assert GRAPH.schedule == "0 1 * * *"
    assert GRAPH.future_logical_time is False


async def test_prune_deletes_finished_runs_older_than_the_history(
    sessions: Sessions,
) -> None:
    """Finished runs older than 90 days before T go with all their rows; runs at
    the cut-off, recent or in progress stay."""
    await add_run(sessions, "succeeded-old", "succeeded", CUTOFF - SECOND)
    await add_run(sessions, "failed-old", "failed", CUTOFF - DAY)
    await add_run(sessions, "cancelled-old", "cancelled", CUTOFF - DAY)
    await add_run(sessions, "no-finish-old", "cancelled", None, CUTOFF - DAY)
    await add_run(sessions, "at-cutoff", "succeeded", CUTOFF)
    await add_run(sessions, "recent", "succeeded", T - DAY)
    await add_run(sessions, "running-old", "running", None, CUTOFF - 9 * DAY)
    await add_run(sessions, "pending-old", "pending", None, CUTOFF - 9 * DAY)

    output = await run_task(sessions, prune_runs, T, resources={"settings": Settings()})

    kept = {"at-cutoff", "recent", "running-old", "pending-old"}
    assert await remaining(sessions) == {
        "runs": kept,
        "step_runs": kept,
        "step_edges": kept,
        "attempts": kept,
        "expansions": kept,
    }
    assert output["deleted_runs"] == 4


async def test_prune_keeps_its_own_run_and_reads_run_history_days(
    sessions: Sessions,
) -> None:
    """RUN_HISTORY_DAYS sets the cut-off; the pruning run itself is never deleted."""
    own = await add_run(sessions, "own", "succeeded", T - 40 * DAY)
    await add_run(sessions, "forty", "succeeded", T - 40 * DAY)
    await add_run(sessions, "twenty", "succeeded", T - 20 * DAY)

    async with sessions() as session, session.begin():
        ctx = StepContext(
            run_id=own,
            graph_name=GRAPH.name,
            step_key="prune",
            attempt=1,
            logical_time=T,
            trigger="cli",
            actor="test",
            params={},
            inputs={},
            session=session,
            resources={"settings": Settings(run_history_days=30)},
        )
        await prune_runs(ctx)

    assert (await remaining(sessions))["runs"] == {"own", "twenty"}


async def test_prune_refuses_a_future_logical_time(h: Harness) -> None:
    """Triggering prune_run_history for a time after now is refused."""
    with pytest.raises(TriggerRejectedError, match="refuses a logical time"):
        await h.run(GRAPH.name, logical_time=datetime.now(UTC) + DAY)


async def test_prune_graph_is_idempotent_through_a_worker(h: Harness) -> None:
    """Two runs for one T and a re-run of prune leave the same history."""
    sessions = h.client.sessions
    await add_run(sessions, "old", "succeeded", CUTOFF - DAY)
    await add_run(sessions, "recent", "failed", T - DAY)

    _, tables = await check_idempotent_through_worker(h, GRAPH.name, T, TABLES, "prune")

    assert (await remaining(sessions))["runs"] == {"recent"}
    assert len(tables[TABLES[1]]) == 2
