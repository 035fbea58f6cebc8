"""scan_conflicts: opposite effects in one scope, overlapping texts or patterns."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import graphs.scan_conflicts as job
from tasks.conflicts import scan_conflicts
from tests.support.domain_rows import add, alerts, dump_domain, rule, run_task
from tests.support.engine import harness

T = datetime(2026, 11, 30, 12, tzinfo=UTC)
EXPORT = "exports of customer email lists to personal mail accounts"


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add(
        sessions,
        rule("D1", scope="privacy", effect="deny", text=f"Deny {EXPORT}"),
        rule("A1", scope="privacy", effect="allow", text=f"Allow {EXPORT}"),
        rule("A2", scope="finance", effect="allow", text=f"Allow {EXPORT}"),
        rule("D2", scope="privacy", effect="deny", text="block refunds", pattern="x+"),
        rule(
            "A3", scope="privacy", effect="allow", text="permit travel", pattern=" x+"
        ),
        rule("D3", scope="privacy", effect="deny", text=f"Deny {EXPORT}"),
        rule("A4", scope="privacy", effect="allow", text=EXPORT, status="deprecated"),
    )


async def test_conflicting_pairs_get_one_alert_each(sessions) -> None:
    """Pairs in one scope with opposite effects and strong overlap are flagged."""
    await seed(sessions)

    output = await run_task(sessions, scan_conflicts, T)

    found = await alerts(sessions, "rule_conflict")
    assert set(found) == {"A1|D1", "A1|D3", "A3|D2"}
    assert found["A1|D1"]["rule_id"] == "A1"
    assert found["A1|D1"]["severity"] == "warning"
    assert found["A1|D1"]["details"]["rules"] == ["A1", "D1"]
    assert found["A1|D1"]["details"]["reasons"] == ["similar_text"]
    assert found["A3|D2"]["details"]["reasons"] == ["same_pattern"]
    assert found["A3|D2"]["details"]["effects"] == {"D2": "deny", "A3": "allow"}
    assert output["scopes"] == 1
    assert output["conflicts"] == 3


async def test_cleared_conflicts_resolve_and_a_rerun_changes_nothing(sessions) -> None:
    """Running twice at T is identical; a pair that no longer overlaps resolves."""
    await seed(sessions)
    await run_task(sessions, scan_conflicts, T)
    before = await dump_domain(sessions)
    await run_task(sessions, scan_conflicts, T)
    assert await dump_domain(sessions) == before
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE rules SET pattern = 'y+' WHERE id = 'A3'"))

    output = await run_task(sessions, scan_conflicts, T + timedelta(days=1))

    assert set(await alerts(sessions, "rule_conflict", status="resolved")) == {"A3|D2"}
    resolved = await alerts(sessions, "rule_conflict", status="resolved")
    assert resolved["A3|D2"]["rule_id"] == "A3"
    assert output["resolved"] == 1


async def test_thousands_of_rules_are_scanned_by_scope(sessions) -> None:
    """Two thousand rules in ten scopes are scanned quickly, finding the planted pairs."""
    rng = random.Random(7)
    rows = []
    for i in range(2_000):
        scope = f"scope-{i % 10}"
        effect = "deny" if (i // 10) % 2 else "allow"
        words = " ".join(f"w{n}" for n in rng.sample(range(50_000), 12))
        rows.append(rule(f"R{i:05d}", scope=scope, effect=effect, text=words))
    rows.append(rule("PLANT-D", scope="scope-3", effect="deny", text=f"Deny {EXPORT}"))
    rows.append(
        rule("PLANT-A", scope="scope-3", effect="allow", text=f"Allow {EXPORT}")
    )
    async with sessions() as session, session.begin():
        session.add_all(rows)

    output = await run_task(sessions, scan_conflicts, T)

    assert output["scopes"] == 10
    assert output["pairs"] == ["PLANT-A|PLANT-D"]


async def test_graph_runs_on_a_worker_and_a_rerun_changes_nothing(
    sessions, db_url, redis_url, queue_name
) -> None:
    """The graph succeeds on a worker; re-running its step is a no-op."""
    await seed(sessions)
    async with harness({job.GRAPH.name: job.GRAPH}, db_url, redis_url, queue_name) as h:
        await h.start_worker()
        run_id = await h.run(job.GRAPH.name, logical_time=T)
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        before = await dump_domain(sessions)

        await h.client.rerun(run_id, "scan", "test")

        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        assert await dump_domain(sessions) == before
    assert set(await alerts(sessions, "rule_conflict")) == {"A1|D1", "A1|D3", "A3|D2"}
