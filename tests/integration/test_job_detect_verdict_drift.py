"""detect_verdict_drift: canary replays, the 5/20%/0.2 edges, idempotency."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import graphs.detect_verdict_drift as job
from orchestrator.config import Settings
from tasks.providers.local import local_providers
from tasks.schema import Canary, ReplayResult
from tasks.verdict_drift import detect_drift, replay_canaries
from tests.support.domain_rows import add, alerts, dump_domain, rule, run_task
from tests.support.engine import harness

T = datetime(2026, 11, 30, 4, 30, tzinfo=UTC)
PATTERN = r"(?i)\bsecret\b"


def canaries(rule_id: str, denies: int, allows: int, wrong: int = 0) -> list[Canary]:
    """``denies`` inputs the pattern matches and ``allows`` it does not.

    The first ``wrong`` of them expect the opposite of what the evaluator gives.
    """
    inputs = [("a secret here", "deny")] * denies + [("nothing here", "allow")] * allows
    rows = []
    for i, (given, verdict) in enumerate(inputs):
        expected = (
            verdict if i >= wrong else {"deny": "allow", "allow": "deny"}[verdict]
        )
        rows.append(
            Canary(
                id=f"{rule_id}-c{i:02d}",
                rule_id=rule_id,
                input=given,
                expected_verdict=expected,
            )
        )
    return rows


def previous_replay(
    rule_id: str, at: datetime, verdicts: list[str]
) -> list[ReplayResult]:
    """Stored results of an earlier replay, one per verdict, on the rule's canaries."""
    return [
        ReplayResult(
            canary_id=f"{rule_id}-c{i:02d}",
            logical_time=at,
            rule_id=rule_id,
            verdict=verdict,
            evaluable=True,
            provider="local",
        )
        for i, verdict in enumerate(verdicts)
    ]


async def run_job(
    sessions: async_sessionmaker[AsyncSession], logical_time: datetime = T
) -> tuple[dict[str, Any], dict[str, Any]]:
    replay = await run_task(sessions, replay_canaries, logical_time)
    detect = await run_task(
        sessions, detect_drift, logical_time, inputs={"replay": replay}
    )
    return replay, detect


async def test_replay_stores_every_result_of_active_rules(sessions) -> None:
    """Each active rule's canary gets one row at T; not-evaluable ones say so."""
    await add(
        sessions,
        rule("P", pattern=PATTERN),
        rule("N"),
        rule("OLD", pattern=PATTERN, status="deprecated"),
        *canaries("P", denies=1, allows=1),
        *canaries("N", denies=1, allows=0),
        *canaries("OLD", denies=1, allows=0),
    )

    replay, _ = await run_job(sessions)

    async with sessions() as session:
        rows = (
            await session.execute(
                text(
                    "SELECT canary_id, logical_time, rule_id, verdict, evaluable,"
                    " provider FROM replay_results ORDER BY canary_id"
                )
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        ("N-c00", T, "N", None, False, "local"),
        ("P-c00", T, "P", "deny", True, "local"),
        ("P-c01", T, "P", "allow", True, "local"),
    ]
    assert replay == {"replayed": 3, "evaluable": 2, "rules": 2, "provider": "local"}


async def test_more_than_twenty_percent_differing_drifts_from_five_canaries(
    sessions,
) -> None:
    """4 all wrong never drift; 1 of 5 wrong (20%) does not; 2 of 5 (40%) does."""
    await add(
        sessions,
        rule("FOUR", pattern=PATTERN),
        rule("ONE-OF-FIVE", pattern=PATTERN),
        rule("TWO-OF-FIVE", pattern=PATTERN),
        rule("NO-PATTERN"),
        *canaries("FOUR", denies=2, allows=2, wrong=4),
        *canaries("ONE-OF-FIVE", denies=2, allows=3, wrong=1),
        *canaries("TWO-OF-FIVE", denies=2, allows=3, wrong=2),
        *canaries("NO-PATTERN", denies=5, allows=5, wrong=10),
    )

    _, detect = await run_job(sessions)

    found = await alerts(sessions, "verdict_drift")
    assert set(found) == {"TWO-OF-FIVE"}
    assert found["TWO-OF-FIVE"]["severity"] == "critical"
    assert found["TWO-OF-FIVE"]["details"] == {
        "reasons": ["verdicts_differ"],
        "replays": 5,
        "evaluable": 5,
        "not_evaluable": 0,
        "differing": 2,
        "deny_share": 0.4,
        "previous_logical_time": None,
        "previous_deny_share": None,
        "share_move": None,
    }
    assert detect["comparable"] == 2


async def test_deny_share_move_of_02_since_the_previous_replay_drifts(sessions) -> None:
    """0.4 to 0.6 (exactly 0.2) drifts; 3/7 to 5/8 (0.196) does not."""
    await add(
        sessions,
        rule("EXACT", pattern=PATTERN),
        rule("UNDER", pattern=PATTERN),
        *canaries("EXACT", denies=3, allows=2),
        *canaries("UNDER", denies=5, allows=3),
    )
    await add(
        sessions,
        *previous_replay("EXACT", T - timedelta(days=2), ["allow"] * 5),
        *previous_replay("EXACT", T - timedelta(days=1), ["deny"] * 2 + ["allow"] * 3),
        *previous_replay("EXACT", T + timedelta(days=1), ["deny"] * 5),
        *previous_replay("UNDER", T - timedelta(days=1), ["deny"] * 3 + ["allow"] * 4),
    )

    await run_job(sessions)

    found = await alerts(sessions, "verdict_drift")
    assert set(found) == {"EXACT"}
    details = found["EXACT"]["details"]
    assert details["reasons"] == ["deny_share_moved"]
    assert details["previous_logical_time"] == (T - timedelta(days=1)).isoformat()
    assert (details["deny_share"], details["previous_deny_share"]) == (0.6, 0.4)
    assert details["share_move"] == 0.2


async def test_previous_replay_with_too_few_evaluable_results_is_not_compared(
    sessions,
) -> None:
    """A previous replay of four results has no deny share to move from."""
    await add(
        sessions,
        rule("R", pattern=PATTERN),
        *canaries("R", denies=5, allows=0),
        *previous_replay("R", T - timedelta(days=1), ["allow"] * 4),
    )

    await run_job(sessions)

    assert await alerts(sessions, "verdict_drift") == {}


async def test_drift_that_stops_is_resolved(sessions) -> None:
    """When the canaries agree again, the next replay resolves the alert."""
    await add(
        sessions,
        rule("R", pattern=PATTERN),
        *canaries("R", denies=2, allows=3, wrong=2),
    )
    await run_job(sessions)
    async with sessions() as session, session.begin():
        await session.execute(
            text(
                "UPDATE canaries SET expected_verdict = CASE WHEN input LIKE '%secret%'"
                " THEN 'deny' ELSE 'allow' END"
            )
        )

    _, detect = await run_job(sessions, T + timedelta(days=1))

    assert set(await alerts(sessions, "verdict_drift", status="resolved")) == {"R"}
    assert detect["resolved"] == 1


async def test_running_twice_for_one_logical_time_changes_nothing(sessions) -> None:
    """Replaying and detecting at T again leaves the domain tables identical."""
    await add(
        sessions,
        rule("R", pattern=PATTERN),
        rule("N"),
        *canaries("R", denies=2, allows=3, wrong=2),
        *canaries("N", denies=1, allows=0),
    )
    await run_job(sessions)
    before = await dump_domain(sessions)

    await run_job(sessions)

    assert await dump_domain(sessions) == before
    assert len(before["replay_results"]) == 6


async def test_graph_runs_on_a_worker_and_a_rerun_changes_nothing(
    sessions, db_url, redis_url, queue_name
) -> None:
    """replay, detect and notify succeed on a worker; re-running replay is a no-op."""
    await add(
        sessions,
        rule("R", pattern=PATTERN),
        *canaries("R", denies=2, allows=3, wrong=2),
    )
    resources = {
        "providers": local_providers(),
        "settings": Settings(alert_webhook_url=None),
    }
    async with harness({job.GRAPH.name: job.GRAPH}, db_url, redis_url, queue_name) as h:
        await h.start_worker(resources)
        run_id = await h.run(job.GRAPH.name, logical_time=T)
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        steps = await h.steps(run_id)
        before = await dump_domain(sessions)

        await h.client.rerun(run_id, "replay", "test")

        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        assert await dump_domain(sessions) == before
    assert list(job.GRAPH.topological_keys()) == ["replay", "detect", "notify"]
    assert steps["detect"]["output"]["drifting"] == ["R"]
    assert steps["notify"]["status"] == "succeeded"
    assert set(await alerts(sessions, "verdict_drift")) == {"R"}
