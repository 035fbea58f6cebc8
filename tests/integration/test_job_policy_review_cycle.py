"""policy_review_cycle against PostgreSQL: due dates, escalation, reviews, notify."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from graphs.policy_review_cycle import GRAPH
from orchestrator.config import Settings
from tasks.notify import notify_critical_alerts
from tasks.reviews import RuleNotFoundError, record_review
from tests.support.engine import Harness, harness
from tests.support.jobs import (
    DAY,
    Sessions,
    alerts,
    check_idempotent_through_worker,
    insert,
    rule,
    run_graph_tasks,
    run_task,
)
from tests.support.webhook import webhook_server

T = datetime(2026, 3, 2, 6, 0, tzinfo=UTC)
SECOND = timedelta(seconds=1)
DUE = "review_due"
O30 = "review_overdue_30"
O60 = "review_overdue_60"


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness({GRAPH.name: GRAPH}, db_url, redis_url, queue_name) as hh:
        yield hh


def overdue(rule_id: str, by: timedelta) -> object:
    """A rule last reviewed so that its 100-day interval ended ``by`` before T."""
    return rule(
        rule_id, T, review_interval_days=100, last_reviewed_at=T - 100 * DAY - by
    )


def settings(alert_webhook_url: str | None = None) -> dict[str, Settings]:
    return {"settings": Settings(alert_webhook_url=alert_webhook_url)}


def test_graph_checks_then_notifies_daily_at_six() -> None:
    """The graph is check → notify, daily at 06:00."""
    assert GRAPH.topological_keys() == ["check", "notify"]
    assert GRAPH.schedule == "0 6 * * *"


async def test_review_alerts_escalate_at_30_and_60_days(sessions: Sessions) -> None:
    """Due at T is info; 29 days is still info; 30 and 59 add a warning; 60 a
    critical alert; due a second after T is nothing."""
    await insert(
        sessions,
        overdue("LATER", -SECOND),
        overdue("D0", timedelta(0)),
        overdue("D29", 29 * DAY),
        overdue("D30", 30 * DAY),
        overdue("D59", 59 * DAY),
        overdue("D60", 60 * DAY),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await alerts(sessions) == {
        (DUE, "D0"),
        (DUE, "D29"),
        (DUE, "D30"),
        (O30, "D30"),
        (DUE, "D59"),
        (O30, "D59"),
        (DUE, "D60"),
        (O30, "D60"),
        (O60, "D60"),
    }
    async with sessions() as session:
        rows = await session.execute(text("SELECT kind, severity FROM alerts"))
        severities = {k: s for k, s in rows}
    assert severities == {DUE: "info", O30: "warning", O60: "critical"}


async def test_review_due_date_honours_review_requests(sessions: Sessions) -> None:
    """A request after the last review and before its interval ends makes a rule
    due; one before the last review, or after the interval's end, does not count;
    a rule never reviewed is due from its creation."""
    await insert(
        sessions,
        rule("REQ", T, last_reviewed_at=T - 10 * DAY, review_requested_at=T - DAY),
        rule(
            "BEFORE",
            T,
            last_reviewed_at=T - 10 * DAY,
            review_requested_at=T - 20 * DAY,
        ),
        rule(
            "AFTER",
            T,
            review_interval_days=100,
            last_reviewed_at=T - 140 * DAY,
            review_requested_at=T - DAY,
        ),
        rule(
            "FUTURE",
            T,
            last_reviewed_at=T - 10 * DAY,
            review_requested_at=T + DAY,
        ),
        rule(
            "NEVER",
            T,
            created_at=T - 100 * DAY,
            review_interval_days=90,
            last_reviewed_at=None,
        ),
    )

    await run_graph_tasks(sessions, GRAPH, T)

    assert await alerts(sessions) == {
        (DUE, "REQ"),
        (DUE, "AFTER"),
        (O30, "AFTER"),
        (DUE, "NEVER"),
    }


async def test_recorded_review_resolves_alerts_at_next_run(sessions: Sessions) -> None:
    """record_review sets the last review, clears the request; the next run resolves."""
    await insert(
        sessions,
        rule(
            "R-1",
            T,
            review_interval_days=10,
            last_reviewed_at=T - 80 * DAY,
            review_requested_at=T - 75 * DAY,
        ),
    )
    await run_graph_tasks(sessions, GRAPH, T)
    assert await alerts(sessions) == {(DUE, "R-1"), (O30, "R-1"), (O60, "R-1")}

    async with sessions() as session, session.begin():
        done = await record_review(session, "R-1", "ada", T + DAY, "checked scope")
    await run_graph_tasks(sessions, GRAPH, T + 2 * DAY)

    assert done["next_due_at"] == T + 11 * DAY
    assert await alerts(sessions) == set()
    async with sessions() as session:
        reviewed = (
            await session.execute(
                text("SELECT last_reviewed_at, review_requested_at FROM rules")
            )
        ).one()
        action = (
            await session.execute(text("SELECT actor, action, subject FROM actions"))
        ).one()
    assert tuple(reviewed) == (T + DAY, None)
    assert tuple(action) == ("ada", "record_review", "R-1")


async def test_record_review_of_unknown_rule_is_refused(sessions: Sessions) -> None:
    """Reviewing a rule that does not exist raises an error naming it."""
    async with sessions() as session, session.begin():
        with pytest.raises(RuleNotFoundError, match="'R-404' does not exist"):
            await record_review(session, "R-404", "ada", T, None)


async def test_notify_posts_new_critical_alerts_once(sessions: Sessions) -> None:
    """Each open critical alert is posted once, retried on 503 with one key."""
    await insert(sessions, overdue("D60", 60 * DAY), overdue("D30", 30 * DAY))

    with webhook_server(503) as server:
        outputs = await run_graph_tasks(
            sessions, GRAPH, T, resources=settings(alert_webhook_url=server.url)
        )
        await run_task(
            sessions,
            notify_critical_alerts,
            T + DAY,
            resources=settings(alert_webhook_url=server.url),
        )

    async with sessions() as session:
        alert_id, notified_at = (
            await session.execute(
                text("SELECT id, notified_at FROM alerts WHERE kind = :k"), {"k": O60}
            )
        ).one()
        others = await session.scalar(
            text("SELECT count(*) FROM alerts WHERE notified_at IS NOT NULL")
        )
    assert [r.status for r in server.received] == [503, 200]
    keys = {r.headers["idempotency-key"] for r in server.received}
    assert keys == {f"alert-{alert_id}"}
    assert server.accepted[0].body["kind"] == O60
    assert server.accepted[0].body["rule_id"] == "D60"
    assert notified_at == T
    assert others == 1
    assert outputs["notify"]["notified"] == 1


async def test_notify_does_nothing_without_a_url(sessions: Sessions) -> None:
    """With no ALERT_WEBHOOK_URL, critical alerts stay un-notified."""
    await insert(sessions, overdue("D60", 60 * DAY))

    outputs = await run_graph_tasks(sessions, GRAPH, T, resources=settings())

    assert outputs["notify"]["notified"] == 0
    async with sessions() as session:
        notified = await session.scalar(
            text("SELECT count(*) FROM alerts WHERE notified_at IS NOT NULL")
        )
    assert notified == 0


async def test_review_graph_is_idempotent_through_a_worker(h: Harness) -> None:
    """Two runs for one T and a re-run of check leave identical rows, and the
    critical alert is delivered once, retried after a 503 with the same key."""
    await insert(
        h.client.sessions,
        overdue("D60", 60 * DAY),
        overdue("D0", timedelta(0)),
        rule("OK", T),
    )

    with webhook_server(503) as server:
        await check_idempotent_through_worker(
            h,
            GRAPH.name,
            T,
            ["alerts", "rules"],
            "check",
            resources=settings(alert_webhook_url=server.url),
        )

    assert [r.status for r in server.received] == [503, 200]
    assert len({r.headers["idempotency-key"] for r in server.received}) == 1
    assert await alerts(h.client.sessions) == {
        (DUE, "D60"),
        (O30, "D60"),
        (O60, "D60"),
        (DUE, "D0"),
    }
