"""monitor_verdict_distribution: 7-day against 30-day deny shares, exact windows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from sqlalchemy import text

import graphs.monitor_verdict_distribution as job
from tasks.schema import Evaluation
from tasks.verdict_distribution import compare_verdict_shares
from tests.support.domain_rows import add, alerts, dump_domain, rule, run_task
from tests.support.engine import harness

T = datetime(2026, 11, 30, 12, tzinfo=UTC)
DAY = timedelta(days=1)
SECOND = timedelta(seconds=1)
RECENT = T - DAY
BASELINE = T - 20 * DAY
_ids = count()


def evaluations(
    rule_id: str, at: datetime, denies: int, allows: int
) -> list[Evaluation]:
    verdicts = ["deny"] * denies + ["allow"] * allows
    return [
        Evaluation(id=f"E{next(_ids):06d}", rule_id=rule_id, verdict=v, created_at=at)
        for v in verdicts
    ]


async def test_shift_of_02_alerts_and_019_does_not(sessions) -> None:
    """0.2 to 0.4 (exactly 0.2) shifts; 0 to 4/21 does not; 4 recent never do."""
    await add(
        sessions,
        rule("EXACT"),
        rule("UNDER"),
        rule("FEW"),
        rule("DOWN"),
        rule("OLD", status="deprecated"),
        *evaluations("EXACT", BASELINE, denies=2, allows=8),
        *evaluations("EXACT", RECENT, denies=2, allows=3),
        *evaluations("UNDER", BASELINE, denies=0, allows=5),
        *evaluations("UNDER", RECENT, denies=4, allows=17),
        *evaluations("FEW", BASELINE, denies=0, allows=30),
        *evaluations("FEW", RECENT, denies=4, allows=0),
        *evaluations("DOWN", BASELINE, denies=3, allows=2),
        *evaluations("DOWN", RECENT, denies=2, allows=3),
        *evaluations("OLD", BASELINE, denies=0, allows=5),
        *evaluations("OLD", RECENT, denies=5, allows=0),
    )

    output = await run_task(sessions, compare_verdict_shares, T)

    found = await alerts(sessions, "verdict_shift")
    assert set(found) == {"EXACT", "DOWN"}
    assert found["EXACT"]["severity"] == "warning"
    assert found["EXACT"]["details"]["shift"] == 0.2
    assert found["DOWN"]["details"]["shift"] == -0.2
    assert output["compared"] == 3


async def test_windows_are_half_open_and_measured_back_from_t(sessions) -> None:
    """T-7d is recent, a second earlier is baseline, T-37d is in, T itself is out."""
    await add(
        sessions,
        rule("W"),
        *evaluations("W", T - 37 * DAY - SECOND, denies=1, allows=0),
        *evaluations("W", T - 37 * DAY, denies=1, allows=0),
        *evaluations("W", BASELINE, denies=0, allows=5),
        *evaluations("W", T - 7 * DAY - SECOND, denies=1, allows=0),
        *evaluations("W", T - 7 * DAY, denies=1, allows=0),
        *evaluations("W", RECENT, denies=4, allows=0),
        *evaluations("W", T, denies=0, allows=1),
        *evaluations("W", T + SECOND, denies=0, allows=1),
    )

    output = await run_task(sessions, compare_verdict_shares, T)

    details = (await alerts(sessions, "verdict_shift"))["W"]["details"]
    assert details["recent"] == {"evaluations": 5, "denies": 5, "deny_share": 1.0}
    assert details["baseline"] == {"evaluations": 7, "denies": 2, "deny_share": 0.2857}
    assert details["windows"] == {
        "recent_start": (T - 7 * DAY).isoformat(),
        "recent_end": T.isoformat(),
        "baseline_start": (T - 37 * DAY).isoformat(),
        "baseline_end": (T - 7 * DAY).isoformat(),
    }
    assert output["recent_window"] == [(T - 7 * DAY).isoformat(), T.isoformat()]


async def test_settled_shares_resolve_and_a_rerun_changes_nothing(sessions) -> None:
    """Running twice at T is identical; when the share settles the alert resolves."""
    await add(
        sessions,
        rule("R"),
        *evaluations("R", BASELINE, denies=0, allows=5),
        *evaluations("R", RECENT, denies=5, allows=0),
    )
    await run_task(sessions, compare_verdict_shares, T)
    before = await dump_domain(sessions)
    await run_task(sessions, compare_verdict_shares, T)
    assert await dump_domain(sessions) == before
    async with sessions() as session, session.begin():
        await session.execute(text("UPDATE evaluations SET verdict = 'allow'"))

    output = await run_task(sessions, compare_verdict_shares, T + DAY)

    assert set(await alerts(sessions, "verdict_shift", status="resolved")) == {"R"}
    assert output["resolved"] == 1


async def test_graph_runs_on_a_worker_and_a_rerun_changes_nothing(
    sessions, db_url, redis_url, queue_name
) -> None:
    """The graph succeeds on a worker; re-running its step is a no-op."""
    await add(
        sessions,
        rule("R"),
        *evaluations("R", BASELINE, denies=0, allows=5),
        *evaluations("R", RECENT, denies=5, allows=0),
    )
    async with harness({job.GRAPH.name: job.GRAPH}, db_url, redis_url, queue_name) as h:
        await h.start_worker()
        run_id = await h.run(job.GRAPH.name, logical_time=T)
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        before = await dump_domain(sessions)

        await h.client.rerun(run_id, "compare", "test")

        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        assert await dump_domain(sessions) == before
    assert set(await alerts(sessions, "verdict_shift")) == {"R"}
