"""validate_polyglot_code: examples parsed per rule, alerts named by example."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

import graphs.validate_polyglot_code as job
from tasks.code_examples import check_code_examples
from tests.support.domain_rows import add, alerts, dump_domain, rule, run_task
from tests.support.engine import harness

T = datetime(2026, 11, 30, 12, tzinfo=UTC)

GOOD = [
    {
        "language": "python",
        "code": "def evaluate(text: str) -> str:\n    return 'allow'\n",
    },
    {"language": "json", "code": '{"rule_id": "R1"}'},
    {"language": "yaml", "code": "rule: R1\nlocales: [en, de]\n"},
    {"language": "javascript", "code": "export const evaluate = (t) => 'allow';\n"},
    {"language": "typescript", "code": "export const n: number = 1;\n"},
    {
        "language": "sql",
        "code": "SELECT verdict, count(*) FROM evaluations GROUP BY 1;",
    },
]
BROKEN = [
    {"language": "python", "code": "x = 1\n"},
    {"language": "json", "code": '{\n  "rule_id": "R2",\n}'},
    {"language": "cobol", "code": "DISPLAY 'HI'."},
]


async def seed(sessions: async_sessionmaker[AsyncSession]) -> None:
    await add(
        sessions,
        rule("R1", examples=GOOD),
        rule("R2", examples=BROKEN),
        rule("R3"),
        rule("OLD", examples=BROKEN, status="deprecated"),
    )


async def test_broken_and_unknown_examples_are_named_per_rule(sessions) -> None:
    """A rule's alert lists each failing example by index, language and line."""
    await seed(sessions)

    output = await run_task(sessions, check_code_examples, T)

    found = await alerts(sessions, "invalid_example")
    assert set(found) == {"R2"}
    details = found["R2"]["details"]
    assert found["R2"]["severity"] == "warning"
    assert details["examples"] == 3
    assert [(f["index"], f["language"]) for f in details["failures"]] == [
        (1, "json"),
        (2, "cobol"),
    ]
    assert details["failures"][0]["line"] == 3
    assert details["failures"][0]["message"] == (
        "Expecting property name enclosed in double quotes"
    )
    assert details["failures"][1]["unknown_language"] is True
    assert output["examples"] == 9
    assert output["failures_by_language"] == {"cobol": 1, "json": 1}


async def test_fixed_examples_resolve_and_a_rerun_changes_nothing(sessions) -> None:
    """Running twice at T is identical; once fixed, the next run resolves."""
    await seed(sessions)
    await run_task(sessions, check_code_examples, T)
    before = await dump_domain(sessions)
    await run_task(sessions, check_code_examples, T)
    assert await dump_domain(sessions) == before
    async with sessions() as session, session.begin():
        await session.execute(
            text("UPDATE rules SET examples = '[]'::jsonb WHERE id = 'R2'")
        )

    await run_task(sessions, check_code_examples, T + timedelta(days=1))

    assert set(await alerts(sessions, "invalid_example", status="resolved")) == {"R2"}


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

        await h.client.rerun(run_id, "parse", "test")

        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        assert await dump_domain(sessions) == before
    assert set(await alerts(sessions, "invalid_example")) == {"R2"}
    assert job.GRAPH.schedule is None
