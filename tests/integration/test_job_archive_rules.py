"""archive_rules against PostgreSQL: deprecation age, retention, legal hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from graphs.archive_rules import GRAPH
from orchestrator.engine import TriggerRejectedError
from tasks.retention import purge_evaluations
from tests.support.engine import Harness, harness
from tests.support.jobs import (
    DAY,
    Sessions,
    check_idempotent_through_worker,
    evaluations,
    insert,
    judged,
    rule,
    run_graph_tasks,
    run_task,
)

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


def deprecated(rule_id: str, days: timedelta, **fields: object) -> object:
    return rule(rule_id, T, status="deprecated", deprecated_at=T - days, **fields)


async def statuses(sessions: Sessions) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(text("SELECT id, status FROM rules"))
        return {k: v for k, v in rows}


async def kept(sessions: Sessions) -> tuple[list[str], list[str]]:
    """Rule ids of the evaluations and judgments left, sorted."""
    async with sessions() as session:
        found = []
        for table in ("evaluations", "judgments"):
            rows = await session.execute(
                text(f"SELECT rule_id FROM {table} ORDER BY rule_id")
            )
            found.append([r for (r,) in rows])
    return found[0], found[1]


def test_graph_archives_and_purges_on_demand_only() -> None:
    """Two steps, no schedule, a future logical time refused, retention 400."""
    assert set(GRAPH.topological_keys()) == {"archive", "purge"}
    assert GRAPH.schedule is None
    assert GRAPH.future_logical_time is False
    assert GRAPH.params_schema == {"retention_days": 400}


async def test_archive_after_ninety_days_deprecated(sessions: Sessions) -> None:
    """Deprecated 90 days before T is archived; a second less, legal hold or an
    active rule is not."""
    await insert(
        sessions,
        deprecated("D90", 90 * DAY),
        deprecated("D89", 90 * DAY - SECOND),
        deprecated("HOLD", 400 * DAY, legal_hold=True),
        rule("ACTIVE", T, deprecated_at=T - 400 * DAY),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await statuses(sessions) == {
        "D90": "archived",
        "D89": "deprecated",
        "HOLD": "deprecated",
        "ACTIVE": "active",
    }


async def test_purge_deletes_evaluations_past_retention_with_judgments(
    sessions: Sessions,
) -> None:
    """Evaluations created before T - 400 d go with their judgments; one at the
    cut-off stays, and a rule under legal hold keeps everything."""
    cutoff = T - 400 * DAY
    await insert(
        sessions,
        rule("R", T),
        rule("HOLD", T, legal_hold=True),
        judged("R", T - DAY, {"correct": 1}, evaluated_at=cutoff - SECOND),
        judged("R", T - DAY, {"correct": 1}, evaluated_at=cutoff),
        judged("HOLD", T - DAY, {"correct": 1}, evaluated_at=cutoff - 90 * DAY),
        evaluations("HOLD", cutoff - 900 * DAY),
    )

    outputs = await run_graph_tasks(sessions, GRAPH, T)

    assert await kept(sessions) == (["HOLD", "HOLD", "R"], ["HOLD", "R"])
    assert outputs["purge"]["evaluations"] == 1
    assert outputs["purge"]["judgments"] == 1


async def test_purge_honours_the_retention_parameter(sessions: Sessions) -> None:
    """retention_days=30 deletes evaluations created before T - 30 d."""
    await insert(
        sessions,
        rule("R", T),
        evaluations("R", [T - 30 * DAY - SECOND, T - 30 * DAY]),
    )

    await run_graph_tasks(sessions, GRAPH, T, params={"retention_days": 30})

    assert (await kept(sessions))[0] == ["R"]


async def test_purge_refuses_a_bad_retention(sessions: Sessions) -> None:
    """A retention that is not a positive whole number of days fails the step."""
    with pytest.raises(ValueError, match="'retention_days' must be a positive"):
        await run_task(sessions, purge_evaluations, T, params={"retention_days": 0})


async def test_archive_refuses_a_future_logical_time(h: Harness) -> None:
    """Triggering archive_rules for a time after now is refused."""
    with pytest.raises(TriggerRejectedError, match="refuses a logical time"):
        await h.run(GRAPH.name, logical_time=datetime.now(UTC) + DAY)


async def test_archive_graph_is_idempotent_through_a_worker(h: Harness) -> None:
    """Two runs for one T and a re-run of purge leave identical rows."""
    await insert(
        h.client.sessions,
        deprecated("D", 100 * DAY),
        rule("R", T),
        judged("R", T - DAY, {"correct": 2}, evaluated_at=T - 500 * DAY),
        judged("R", T - DAY, {"false_positive": 1}, evaluated_at=T - DAY),
    )

    _, tables = await check_idempotent_through_worker(
        h, GRAPH.name, T, ["rules", "evaluations", "judgments"], "purge"
    )

    assert len(tables["evaluations"]) == len(tables["judgments"]) == 1
    assert await statuses(h.client.sessions) == {"D": "archived", "R": "active"}
