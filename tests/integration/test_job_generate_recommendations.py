"""generate_recommendations against PostgreSQL: thresholds, windows, re-runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from graphs.generate_recommendations import GRAPH
from tests.support.engine import Harness, harness
from tests.support.jobs import (
    DAY,
    Sessions,
    alerts,
    check_idempotent_through_worker,
    evaluations,
    insert,
    judged,
    rule,
    run_graph_tasks,
    translation,
)

T = datetime(2026, 3, 2, 3, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
OLD = T - 200 * DAY


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


async def recommended(sessions: Sessions, t: datetime = T) -> set[tuple[str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT kind, subject FROM recommendations WHERE logical_time = :t"),
            {"t": t},
        )
        return {(k, s) for k, s in rows}


def usage(rule_id: str, denies: int, allows: int) -> list[object]:
    return [
        *evaluations(rule_id, T - DAY, denies, "deny"),
        *evaluations(rule_id, T - DAY, allows, "allow"),
    ]


def test_graph_recommends_then_alerts_daily_at_three() -> None:
    """The graph is recommend → alert, daily at 03:00."""
    assert GRAPH.topological_keys() == ["recommend", "alert"]
    assert GRAPH.schedule == "0 3 * * *"


async def test_high_deny_rate_above_half_only(sessions: Sessions) -> None:
    """50 denies of 100 is no recommendation; 51 of 100 is one, with a warning alert."""
    await insert(
        sessions,
        rule("HALF", T),
        usage("HALF", 50, 50),
        rule("OVER", T),
        usage("OVER", 51, 49),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await recommended(sessions) == {("high_deny_rate", "OVER")}
    assert await alerts(sessions) == {("high_deny_rate", "OVER")}
    async with sessions() as session:
        row = (
            await session.execute(
                text("SELECT rationale, figures FROM recommendations")
            )
        ).one()
        severity = await session.scalar(text("SELECT severity FROM alerts"))
    assert row.figures == {"evaluations": 100, "denies": 51, "deny_share": 0.51}
    assert "51 of 100" in row.rationale
    assert severity == "warning"


async def test_high_false_positive_rate_above_ten_percent_over_all_time(
    sessions: Sessions,
) -> None:
    """1 FP in 10 judgments (one 400 days old) is 10%: quiet; 1 in 9 is not."""
    await insert(
        sessions,
        rule("TEN", T),
        judged("TEN", T - 400 * DAY, {"false_positive": 1}, evaluated_at=OLD),
        judged("TEN", T - DAY, {"correct": 9}, evaluated_at=OLD),
        judged("TEN", T, {"false_positive": 1}, evaluated_at=OLD),
        rule("OVER", T),
        judged("OVER", T - 400 * DAY, {"false_positive": 1}, evaluated_at=OLD),
        judged("OVER", T - DAY, {"correct": 8}, evaluated_at=OLD),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await recommended(sessions) == {("high_false_positive_rate", "OVER")}
    assert await alerts(sessions) == set()


async def test_never_fires_from_fifty_evaluations_in_window(sessions: Sessions) -> None:
    """49 allow verdicts in the window are not enough; 50 (one exactly 30 days
    before T) are; evaluations a second too early or at T do not count."""
    await insert(
        sessions,
        rule("N49", T),
        usage("N49", 0, 48),
        evaluations("N49", [T - 30 * DAY, T - 30 * DAY - SECOND, T]),
        rule("N50", T),
        usage("N50", 0, 49),
        evaluations("N50", [T - 30 * DAY]),
        rule("D50", T),
        usage("D50", 1, 49),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await recommended(sessions) == {("never_fires", "N50")}


async def test_stale_translation_once_per_out_of_date_locale(
    sessions: Sessions,
) -> None:
    """Each translation whose source_version is not the rule's version is stale."""
    await insert(
        sessions,
        rule("R-1", T, version=3, required_locales=["fr", "de", "es"]),
        translation("R-1", "fr", 3),
        translation("R-1", "de", 2),
        translation("R-1", "es", 1),
        rule("R-2", T, status="deprecated"),
        translation("R-2", "fr", 0),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await recommended(sessions) == {
        ("stale_translation", "R-1|de"),
        ("stale_translation", "R-1|es"),
    }


async def test_recommendations_rerun_replaces_only_its_logical_time(
    sessions: Sessions,
) -> None:
    """A re-run for T replaces T's rows exactly; rows of other times stay."""
    await insert(sessions, rule("R-1", T), evaluations("R-1", T - 2 * DAY, 60, "deny"))
    await run_graph_tasks(sessions, GRAPH, T - DAY)
    await run_graph_tasks(sessions, GRAPH, T)
    assert await recommended(sessions) == {("high_deny_rate", "R-1")}

    async with sessions() as session, session.begin():
        await session.execute(text("DELETE FROM evaluations"))
    await run_graph_tasks(sessions, GRAPH, T)

    assert await recommended(sessions) == set()
    assert await recommended(sessions, T - DAY) == {("high_deny_rate", "R-1")}
    assert await alerts(sessions) == set()
    assert await alerts(sessions, "resolved") == {("high_deny_rate", "R-1")}


async def test_recommendations_graph_is_idempotent_through_a_worker(
    h: Harness,
) -> None:
    """Two runs for one T and a re-run of recommend leave identical rows."""
    await insert(
        h.client.sessions,
        rule("R-1", T, version=2),
        translation("R-1", "fr", 1),
        usage("R-1", 30, 29),
        judged("R-1", T - DAY, {"false_positive": 2, "correct": 3}, evaluated_at=OLD),
        rule("R-2", T),
        usage("R-2", 0, 70),
    )

    _, tables = await check_idempotent_through_worker(
        h, GRAPH.name, T, ["recommendations", "alerts"], "recommend"
    )

    assert len(tables["recommendations"]) == 4
    assert len(tables["alerts"]) == 1
