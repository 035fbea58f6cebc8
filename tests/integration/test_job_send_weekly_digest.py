"""send_weekly_digest against PostgreSQL and a real loopback webhook."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text

from graphs.send_weekly_digest import GRAPH
from orchestrator.config import Settings
from tasks.digest import deliver_digest, idempotency_key
from tasks.schema import Alert, HealthScore, Proposal
from tasks.webhooks import WebhookDeliveryError
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
from tests.support.webhook import webhook_server

T = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
OLD = T - 200 * DAY


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


def settings(url: str | None = None) -> dict[str, Settings]:
    return {"settings": Settings(digest_webhook_url=url)}


def health(rule_id: str, at: datetime, overall: float) -> HealthScore:
    return HealthScore(
        rule_id=rule_id,
        logical_time=at,
        activity=overall,
        accuracy=overall,
        effectiveness=overall,
        freshness=overall,
        stability=overall,
        coverage=overall,
        overall=overall,
        figures={},
    )


def alert(alert_id: int, severity: str, status: str = "open") -> Alert:
    return Alert(
        id=alert_id,
        kind="test",
        severity=severity,
        rule_id=None,
        subject=f"S-{alert_id}",
        status=status,
        details={},
        first_seen_at=T - DAY,
        last_seen_at=T - DAY,
    )


def proposal(pid: str, status: str) -> Proposal:
    return Proposal(
        id=pid,
        status=status,
        title="t",
        text="t",
        rationale="r",
        correction_ids=[],
        figures={},
        logical_time=T - DAY,
    )


async def content(sessions: Sessions) -> dict[str, Any]:
    async with sessions() as session:
        stored: dict[str, Any] = await session.scalar(
            text("SELECT content FROM digests")
        )
        return stored


def test_graph_gathers_sections_stores_then_delivers_on_mondays() -> None:
    """Five section steps feed store, then deliver; Mondays at 09:00."""
    assert set(GRAPH.predecessors("store")) == {
        "trend",
        "violations",
        "effective",
        "declining",
        "pending",
    }
    assert GRAPH.predecessors("deliver") == ["store"]
    assert GRAPH.schedule == "0 9 * * 1"


async def test_digest_trend_per_day_and_against_the_week_before(
    sessions: Sessions,
) -> None:
    """Days are [T - 7 d + i, ...): exactly 7 days before T is this week's first
    day, a second earlier last week's; T itself and 14 days and a second are out."""
    await insert(
        sessions,
        rule("R-1", T),
        evaluations("R-1", [T - 7 * DAY, T - SECOND], verdict="deny"),
        evaluations("R-1", [T - 7 * DAY + timedelta(hours=1), T]),
        evaluations("R-1", [T - 7 * DAY - SECOND, T - 14 * DAY], verdict="deny"),
        evaluations("R-1", T - 10 * DAY, 6),
        evaluations("R-1", [T - 14 * DAY - SECOND], verdict="deny"),
    )

    await run_graph_tasks(sessions, GRAPH, T, resources=settings())

    trend = (await content(sessions))["trend"]
    days = trend["days"]
    assert [d["day_start"][:10] for d in days] == [
        f"2026-02-{n}" for n in (23, 24, 25, 26, 27, 28)
    ] + ["2026-03-01"]
    assert [d["evaluations"] for d in days] == [2, 0, 0, 0, 0, 0, 1]
    assert days[0]["deny_share"] == 0.5
    assert days[1]["deny_share"] is None
    assert days[6]["deny_share"] == 1.0
    assert trend["week"] == {"evaluations": 3, "denies": 2, "deny_share": 0.666667}
    assert trend["previous_week"] == {
        "evaluations": 8,
        "denies": 2,
        "deny_share": 0.25,
    }
    assert trend["change"] == 0.416667


async def test_digest_ranks_violations_effective_and_declining_rules(
    sessions: Sessions,
) -> None:
    """Most denies this week first; effectiveness needs 10 judgments; declines
    compare the latest score of this week with last week's."""
    await insert(
        sessions,
        rule("A", T),
        rule("B", T),
        rule("C", T),
        rule("D", T),
        evaluations("A", T - DAY, 3, "deny"),
        evaluations("B", T - DAY, 5, "deny"),
        evaluations("C", T - 8 * DAY, 9, "deny"),
        judged("A", T - DAY, {"correct": 9}, evaluated_at=OLD),
        judged("B", T - DAY, {"correct": 8, "false_positive": 2}, evaluated_at=OLD),
        judged("C", T - DAY, {"correct": 12}, evaluated_at=OLD),
        health("A", T - 8 * DAY, 80.0),
        health("A", T - DAY, 50.0),
        health("B", T - 13 * DAY, 60.0),
        health("B", T - 2 * DAY, 55.0),
        health("C", T - 8 * DAY, 40.0),
        health("C", T - DAY, 70.0),
        health("D", T - DAY, 10.0),
    )

    await run_graph_tasks(sessions, GRAPH, T, resources=settings())

    digest = await content(sessions)
    assert [(r["rule_id"], r["denies"]) for r in digest["violations"]["rules"]] == [
        ("B", 5),
        ("A", 3),
    ]
    effective = digest["effective"]["rules"]
    assert [(r["rule_id"], r["effectiveness"]) for r in effective] == [
        ("C", 100.0),
        ("B", 80.0),
    ]
    declining = digest["declining"]["rules"]
    assert [(r["rule_id"], r["drop"]) for r in declining] == [("A", 30.0), ("B", 5.0)]


async def test_digest_lists_pending_actions(sessions: Sessions) -> None:
    """Pending proposals, open alerts by severity and reviews due are counted."""
    await insert(
        sessions,
        rule("DUE", T, review_interval_days=30, last_reviewed_at=T - 30 * DAY),
        rule("FINE", T),
        proposal("P-1", "pending"),
        proposal("P-2", "approved"),
        alert(1, "critical"),
        alert(2, "info"),
        alert(3, "info"),
        alert(4, "warning", "resolved"),
    )

    await run_graph_tasks(sessions, GRAPH, T, resources=settings())

    assert (await content(sessions))["pending"] == {
        "pending_proposals": 1,
        "open_alerts": {"critical": 1, "warning": 0, "info": 2},
        "reviews_due": 1,
    }
    async with sessions() as session:
        markdown = await session.scalar(text("SELECT markdown FROM digests"))
    assert markdown.startswith("# Weekly digest: 2026-02-23 to 2026-03-02\n")
    for heading in (
        "## Compliance trend",
        "## Top violations",
        "## Most effective rules",
        "## Declining rules",
        "## Pending actions",
    ):
        assert heading in markdown
    assert "- Open alerts: 1 critical, 0 warning, 2 info" in markdown


async def test_digest_without_webhook_is_stored_not_delivered(
    sessions: Sessions,
) -> None:
    """With no DIGEST_WEBHOOK_URL the digest is stored and never marked delivered."""
    outputs = await run_graph_tasks(sessions, GRAPH, T, resources=settings())

    assert outputs["deliver"]["delivered"] is False
    async with sessions() as session:
        row = (
            await session.execute(
                text("SELECT idempotency_key, delivered_at FROM digests")
            )
        ).one()
    assert tuple(row) == ("digest-2026-03-02T09:00Z", None)


async def test_digest_refused_by_webhook_fails_the_step(sessions: Sessions) -> None:
    """A 400 answer is not retried: the step fails and nothing is marked delivered."""
    await run_graph_tasks(sessions, GRAPH, T, resources=settings())

    with webhook_server(400) as server, pytest.raises(WebhookDeliveryError):
        await run_task(sessions, deliver_digest, T, resources=settings(server.url))

    assert len(server.received) == 1
    async with sessions() as session:
        delivered = await session.scalar(text("SELECT delivered_at FROM digests"))
    assert delivered is None


async def test_digest_graph_delivers_once_through_a_worker(h: Harness) -> None:
    """A 503 then a 200 deliver the digest once with one key; a second run for T
    and a re-run of store send nothing and leave the digest row as it was."""
    await insert(
        h.client.sessions, rule("R-1", T), evaluations("R-1", T - DAY, 2, "deny")
    )

    with webhook_server(503) as server:
        _, tables = await check_idempotent_through_worker(
            h, GRAPH.name, T, ["digests"], "store", resources=settings(server.url)
        )

    assert [r.status for r in server.received] == [503, 200]
    assert {r.headers["idempotency-key"] for r in server.received} == {
        idempotency_key(T)
    }
    assert server.accepted[0].body["violations"]["rules"][0]["rule_id"] == "R-1"
    async with h.client.sessions() as session:
        row = (
            await session.execute(
                text("SELECT delivered_at, delivery_attempts FROM digests")
            )
        ).one()
    assert tuple(row) == (T, 2)
    assert len(tables["digests"]) == 1
