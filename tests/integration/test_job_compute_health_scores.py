"""compute_health_scores against PostgreSQL: dimensions, windows, alerts, re-runs."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from graphs.compute_health_scores import GRAPH
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

T = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
OLD = T - 200 * DAY


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


async def scores(sessions: Sessions, t: datetime = T) -> dict[str, dict[str, Any]]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT * FROM health_scores WHERE logical_time = :t"), {"t": t}
        )
        return {r.rule_id: dict(r._mapping) for r in rows}


def busy(rule_id: str) -> list[Any]:
    """99 allow verdicts a day before T: activity 100, not dormant, stable."""
    return evaluations(rule_id, T - DAY, 99)


def test_graph_scores_then_alerts_daily_at_two() -> None:
    """The graph is score → alert, daily at 02:00."""
    assert GRAPH.topological_keys() == ["score", "alert"]
    assert GRAPH.schedule == "0 2 * * *"


async def test_health_scores_each_dimension_as_designed(sessions: Sessions) -> None:
    """A rule built for round figures gets exactly 50, 90, 60, 50, 60, 50 and 60."""
    await insert(
        sessions,
        rule(
            "R-1",
            T,
            version=2,
            review_interval_days=100,
            last_reviewed_at=T - 150 * DAY,
            required_locales=["en", "fr", "de", "es", "it"],
        ),
        translation("R-1", "fr", 2),
        translation("R-1", "de", 1),
        translation("R-1", "es", 2),
        evaluations("R-1", T - 2 * DAY, 3, "deny"),
        evaluations("R-1", T - 2 * DAY, 2, "allow"),
        evaluations("R-1", T - 20 * DAY, 1, "deny"),
        evaluations("R-1", T - 20 * DAY, 3, "allow"),
        evaluations("R-1", T - 35 * DAY, 1, "allow"),
        judged(
            "R-1",
            T - 10 * DAY,
            {"correct": 6, "false_positive": 1, "false_negative": 3},
            evaluated_at=OLD,
        ),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    score = (await scores(sessions))["R-1"]
    assert {d: score[d] for d in ("activity", "accuracy", "effectiveness")} == {
        "activity": 50.0,
        "accuracy": 90.0,
        "effectiveness": 60.0,
    }
    assert {d: score[d] for d in ("freshness", "stability", "coverage")} == {
        "freshness": 50.0,
        "stability": 60.0,
        "coverage": 50.0,
    }
    assert score["overall"] == 60.0
    assert await alerts(sessions) == set()


async def test_health_scores_defaults_without_data(sessions: Sessions) -> None:
    """No judgments give 50, few evaluations 100 stability, no locales 100 coverage."""
    await insert(sessions, rule("R-1", T), evaluations("R-1", T - DAY, 4, "deny"))

    await run_graph_tasks(sessions, GRAPH, T)

    score = (await scores(sessions))["R-1"]
    assert score["activity"] == round(100 * math.log10(5) / 2, 6)
    assert (score["accuracy"], score["effectiveness"]) == (50.0, 50.0)
    assert (score["freshness"], score["stability"], score["coverage"]) == (
        100.0,
        100.0,
        100.0,
    )


async def test_health_windows_include_start_and_exclude_t(sessions: Sessions) -> None:
    """Exactly N days before T is inside each window; a second earlier, or T, is not."""
    await insert(
        sessions,
        rule("A", T),
        evaluations("A", [T - 30 * DAY, T - 30 * DAY - SECOND, T]),
        rule("Q", T),
        judged("Q", T - 90 * DAY, {"correct": 1}, evaluated_at=OLD),
        judged("Q", T - 90 * DAY - SECOND, {"false_positive": 1}, evaluated_at=OLD),
        judged("Q", T, {"false_positive": 1}, evaluated_at=OLD),
        rule("S", T),
        evaluations("S", [T - 7 * DAY, T - 7 * DAY - SECOND, T]),
        evaluations("S", [T - 37 * DAY, T - 37 * DAY - SECOND]),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    found = await scores(sessions)
    assert found["A"]["figures"]["evaluations_30d"] == 1
    assert found["Q"]["figures"]["judgments_90d"] == 1
    assert found["Q"]["accuracy"] == 100.0
    assert found["S"]["figures"]["evaluations_7d"] == 1
    assert found["S"]["figures"]["evaluations_baseline"] == 2


async def test_health_alerts_unhealthy_below_forty_only(sessions: Sessions) -> None:
    """Overall exactly 40 is not unhealthy; 38.33 is (both dormant, no other alert)."""
    stale = {
        "created_at": T - 400 * DAY,
        "review_interval_days": 90,
        "last_reviewed_at": None,
        "required_locales": ["fr"],
    }
    await insert(
        sessions,
        rule("U40", T, **stale),
        judged("U40", T - DAY, {"correct": 4, "false_negative": 6}, evaluated_at=OLD),
        rule("U38", T, **stale),
        judged("U38", T - DAY, {"correct": 3, "false_negative": 7}, evaluated_at=OLD),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    found = await scores(sessions)
    assert found["U40"]["overall"] == 40.0
    assert found["U38"]["overall"] == round(230 / 6, 6)
    assert await alerts(sessions) == {
        ("dormant", "U40"),
        ("dormant", "U38"),
        ("unhealthy", "U38"),
    }


async def test_health_alerts_effectiveness_decline_from_ten_judgments(
    sessions: Sessions,
) -> None:
    """Effectiveness 22% on 9 judgments is quiet; 20% on 10 alerts; 30% on 10 does not."""
    await insert(
        sessions,
        rule("E9", T),
        busy("E9"),
        judged("E9", T - DAY, {"correct": 2, "false_negative": 7}, evaluated_at=OLD),
        rule("E10", T),
        busy("E10"),
        judged("E10", T - DAY, {"correct": 2, "false_negative": 8}, evaluated_at=OLD),
        rule("E30", T),
        busy("E30"),
        judged("E30", T - DAY, {"correct": 3, "false_negative": 7}, evaluated_at=OLD),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await alerts(sessions) == {("effectiveness_decline", "E10")}


async def test_health_alerts_dormant_on_window_edge(sessions: Sessions) -> None:
    """An evaluation exactly 30 days before T keeps a rule awake; a second earlier not."""
    await insert(
        sessions,
        rule("IN", T),
        evaluations("IN", T - 30 * DAY),
        rule("OUT", T),
        evaluations("OUT", T - 30 * DAY - SECOND),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await alerts(sessions) == {("dormant", "OUT")}


async def test_health_resolves_alerts_whose_condition_cleared(
    sessions: Sessions,
) -> None:
    """A dormant rule that is evaluated again has its alert resolved at the next T."""
    await insert(sessions, rule("R-1", T))
    await run_graph_tasks(sessions, GRAPH, T)
    assert await alerts(sessions) == {("dormant", "R-1")}

    await insert(sessions, busy("R-1"))
    await run_graph_tasks(sessions, GRAPH, T + DAY)

    assert await alerts(sessions) == set()
    async with sessions() as session:
        resolved = (
            await session.execute(
                text("SELECT status, resolved_at, last_seen_at FROM alerts")
            )
        ).one()
    assert tuple(resolved) == ("resolved", T + DAY, T)


async def test_health_scores_only_active_rules(sessions: Sessions) -> None:
    """Deprecated rules, and rules created after T, get no score."""
    await insert(
        sessions,
        rule("ACTIVE", T),
        rule("OLD", T, status="deprecated", deprecated_at=T - DAY),
        rule("LATER", T, created_at=T + SECOND),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert set(await scores(sessions)) == {"ACTIVE"}


async def test_health_graph_is_idempotent_through_a_worker(h: Harness) -> None:
    """Two runs for one T and a re-run of score leave identical scores and alerts."""
    sessions = h.client.sessions
    await insert(
        sessions,
        rule("R-1", T),
        rule("R-2", T, required_locales=["fr"]),
        busy("R-2"),
        judged("R-2", T - DAY, {"correct": 1, "false_positive": 9}, evaluated_at=OLD),
    )

    run_id, tables = await check_idempotent_through_worker(
        h, GRAPH.name, T, ["health_scores", "alerts"], "score"
    )

    assert len(tables["health_scores"]) == 2
    assert await alerts(sessions) == {
        ("dormant", "R-1"),
        ("effectiveness_decline", "R-2"),
    }
    steps = await h.steps(run_id)
    assert steps["score"]["output"]["rules"] == 2
