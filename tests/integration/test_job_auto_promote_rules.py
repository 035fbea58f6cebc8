"""auto_promote_rules against PostgreSQL: every threshold's edge, one level a run."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from graphs.auto_promote_rules import GRAPH
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
)

T = datetime(2026, 3, 2, 4, 0, tzinfo=UTC)
OLD = T - 90 * DAY


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


def aged(rule_id: str, maturity: str, days: float = 100) -> object:
    return rule(rule_id, T, maturity=maturity, created_at=T - days * DAY)


def record(rule_id: str, outcomes: dict[str, int]) -> list[object]:
    """Evaluations judged a day before T (the evaluations count too)."""
    return judged(rule_id, T - DAY, outcomes, evaluated_at=OLD)


async def changes(sessions: Sessions) -> dict[str, tuple[str, str]]:
    async with sessions() as session:
        rows = await session.execute(
            text("SELECT rule_id, from_maturity, to_maturity FROM maturity_history")
        )
        return {r: (f, t) for r, f, t in rows}


async def maturities(sessions: Sessions) -> dict[str, str]:
    async with sessions() as session:
        rows = await session.execute(text("SELECT id, maturity FROM rules"))
        return {k: v for k, v in rows}


def test_graph_decides_then_applies_daily_at_four() -> None:
    """The graph is decide → apply, daily at 04:00."""
    assert GRAPH.topological_keys() == ["decide", "apply"]
    assert GRAPH.schedule == "0 4 * * *"


async def test_promotion_to_stable_at_each_edge(sessions: Sessions) -> None:
    """Age 30 days, 20 evaluations before T and FP under 5% promote; one short not."""
    await insert(
        sessions,
        aged("A29", "experimental", 29),
        evaluations("A29", T - DAY, 20),
        aged("A30", "experimental", 30),
        evaluations("A30", T - DAY, 20),
        aged("E19", "experimental"),
        evaluations("E19", [T - 300 * DAY, T]),
        evaluations("E19", T - DAY, 18),
        aged("E20", "experimental"),
        evaluations("E20", [T - 300 * DAY]),
        evaluations("E20", T - DAY, 19),
        aged("F5", "experimental"),
        record("F5", {"false_positive": 1, "correct": 19}),
        aged("F0", "experimental"),
        record("F0", {"correct": 20}),
        judged("F0", T, {"false_positive": 1}, evaluated_at=OLD),
        aged("F4", "experimental"),
        record("F4", {"false_positive": 1, "correct": 20}),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    promoted = ("experimental", "stable")
    assert await changes(sessions) == {
        "A30": promoted,
        "E20": promoted,
        "F0": promoted,
        "F4": promoted,
    }
    assert (await maturities(sessions))["A30"] == "stable"


async def test_promotion_to_proven_at_each_edge(sessions: Sessions) -> None:
    """Stable rules aged 60 days with FP under 1% become proven; 59 days or 1% not."""
    await insert(
        sessions,
        aged("P59", "stable", 59),
        aged("P60", "stable", 60),
        aged("F1", "stable"),
        record("F1", {"false_positive": 1, "correct": 99}),
        aged("F099", "stable"),
        record("F099", {"false_positive": 1, "correct": 100}),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await changes(sessions) == {
        "P60": ("stable", "proven"),
        "F099": ("stable", "proven"),
    }


async def test_demotion_above_ten_percent(sessions: Sessions) -> None:
    """FP of exactly 10% keeps stable and proven rules; 1 in 9 demotes both."""
    await insert(
        sessions,
        aged("S10", "stable"),
        record("S10", {"false_positive": 1, "correct": 9}),
        aged("S11", "stable"),
        record("S11", {"false_positive": 1, "correct": 8}),
        aged("P10", "proven"),
        record("P10", {"false_positive": 1, "correct": 9}),
        aged("P11", "proven"),
        record("P11", {"false_positive": 1, "correct": 8}),
        aged("X11", "experimental"),
        record("X11", {"false_positive": 1, "correct": 8}),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await changes(sessions) == {
        "S11": ("stable", "experimental"),
        "P11": ("proven", "experimental"),
    }
    async with sessions() as session:
        reason, figures = (
            await session.execute(
                text("SELECT reason, figures FROM maturity_history WHERE rule_id='P11'")
            )
        ).one()
    assert "11.11%" in reason
    assert figures == {
        "age_days": 100.0,
        "evaluations": 9,
        "judgments": 9,
        "false_positives": 1,
        "fp_rate": 1 / 9,
    }


async def test_promotion_one_level_per_run(sessions: Sessions) -> None:
    """A rule fit for proven goes to stable at T, stays there on a re-run of T,
    and becomes proven at the next day's run."""
    await insert(sessions, aged("R-1", "experimental"), evaluations("R-1", T - DAY, 20))

    await run_graph_tasks(sessions, GRAPH, T)
    await run_graph_tasks(sessions, GRAPH, T)
    assert (await maturities(sessions))["R-1"] == "stable"

    await run_graph_tasks(sessions, GRAPH, T + DAY)
    assert (await maturities(sessions))["R-1"] == "proven"
    async with sessions() as session:
        count = await session.scalar(text("SELECT count(*) FROM maturity_history"))
    assert count == 2


async def test_promotion_graph_is_idempotent_through_a_worker(h: Harness) -> None:
    """Two runs for one T and a re-run of decide leave identical rules and history."""
    await insert(
        h.client.sessions,
        aged("R-1", "experimental"),
        evaluations("R-1", T - DAY, 20),
        aged("R-2", "proven"),
        record("R-2", {"false_positive": 5, "correct": 5}),
    )

    _, tables = await check_idempotent_through_worker(
        h, GRAPH.name, T, ["rules", "maturity_history"], "decide"
    )

    assert len(tables["maturity_history"]) == 2
    assert await maturities(h.client.sessions) == {
        "R-1": "stable",
        "R-2": "experimental",
    }
