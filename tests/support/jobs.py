"""Helpers for the maintenance graphs' tests: domain rows, direct steps, dumps."""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.context import StepContext
from orchestrator.graph import Graph, TaskFn
from orchestrator.states import RunStatus
from tasks.schema import DomainBase, Evaluation, Judgment, Rule, Translation
from tests.support.engine import Harness

Sessions = async_sessionmaker[AsyncSession]
DAY = timedelta(hours=24)
_ids = itertools.count(1)


def rule(rule_id: str, t: datetime, **fields: Any) -> Rule:
    """An active experimental rule created a year before ``t``, reviewed a day
    before it with a one-year interval, no locales to cover: healthy and quiet."""
    values: dict[str, Any] = {
        "id": rule_id,
        "title": f"Rule {rule_id}",
        "text": f"Text of {rule_id}",
        "locale": "en",
        "version": 1,
        "maturity": "experimental",
        "status": "active",
        "created_at": t - 365 * DAY,
        "review_interval_days": 365,
        "last_reviewed_at": t - DAY,
        "legal_hold": False,
        "scope": "test",
        "effect": "deny",
        "required_locales": [],
        "examples": [],
    }
    values.update(fields)

    return Rule(**values)


def translation(rule_id: str, locale: str, source_version: int) -> Translation:
    return Translation(
        rule_id=rule_id,
        locale=locale,
        text=f"{rule_id} in {locale}",
        source_version=source_version,
    )


def evaluations(
    rule_id: str,
    at: datetime | Sequence[datetime],
    count: int = 1,
    verdict: str = "allow",
) -> list[Evaluation]:
    """``count`` evaluations at ``at`` (one time, or one per time given)."""
    times = [at] * count if isinstance(at, datetime) else list(at)

    return [
        Evaluation(
            id=f"E-{next(_ids)}", rule_id=rule_id, verdict=verdict, created_at=when
        )
        for when in times
    ]


def judged(
    rule_id: str,
    at: datetime,
    outcomes: Mapping[str, int],
    evaluated_at: datetime | None = None,
) -> list[Any]:
    """Evaluations with one judgment each: ``{"correct": 3, "false_positive": 1}``."""
    rows: list[Any] = []
    for outcome, count in outcomes.items():
        for evaluation in evaluations(rule_id, evaluated_at or at, count):
            rows.append(evaluation)
            rows.append(
                Judgment(
                    id=f"J-{next(_ids)}",
                    evaluation_id=evaluation.id,
                    rule_id=rule_id,
                    outcome=outcome,
                    created_at=at,
                )
            )

    return rows


async def insert(sessions: Sessions, *rows: Any) -> None:
    """Insert rows (lists are flattened) in one transaction, parents first."""
    order = {table: i for i, table in enumerate(DomainBase.metadata.sorted_tables)}
    groups: dict[int, list[Any]] = {}
    for row in rows:
        for item in row if isinstance(row, list) else [row]:
            groups.setdefault(order[item.__table__], []).append(item)
    async with sessions() as session, session.begin():
        for _, group in sorted(groups.items()):
            session.add_all(group)
            await session.flush()


async def run_task(
    sessions: Sessions,
    fn: TaskFn,
    t: datetime,
    *,
    inputs: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Any:
    """One attempt of one task in its own transaction, output JSON round-tripped."""
    async with sessions() as session, session.begin():
        ctx = StepContext(
            run_id=uuid.uuid4(),
            graph_name="test",
            step_key="step",
            attempt=1,
            logical_time=t,
            trigger="cli",
            actor="test",
            params=dict(params or {}),
            inputs=dict(inputs or {}),
            session=session,
            resources=dict(resources or {}),
        )
        output = await fn(ctx)

    return json.loads(json.dumps(output))


async def run_graph_tasks(
    sessions: Sessions,
    graph: Graph,
    t: datetime,
    *,
    params: Mapping[str, Any] | None = None,
    resources: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Every step of ``graph`` in topological order, each in its own transaction."""
    from orchestrator.graph import get_task

    outputs: dict[str, Any] = {}
    for key in graph.topological_keys():
        step = graph.steps[key]
        fn = get_task(step.task_name)
        assert fn is not None
        inputs = {p: outputs[p] for p in graph.predecessors(key)}
        outputs[key] = await run_task(
            sessions,
            fn,
            t,
            inputs=inputs,
            params={**(params or {}), **step.params},
            resources=resources,
        )

    return outputs


async def dump(sessions: Sessions, tables: Iterable[str]) -> dict[str, list[str]]:
    """Every row of each table as JSON text, in order: a full, comparable copy."""
    out: dict[str, list[str]] = {}
    async with sessions() as session:
        for table in tables:
            rows = await session.execute(
                text(f"SELECT to_jsonb(x)::text FROM {table} x ORDER BY 1")
            )
            out[table] = [r for (r,) in rows]

    return out


async def alerts(
    sessions: Sessions, status: str | None = "open"
) -> set[tuple[str, str]]:
    """(kind, subject) of the alerts with ``status`` (all alerts when None)."""
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT kind, subject FROM alerts"
                " WHERE CAST(:status AS text) IS NULL OR status = :status"
            ),
            {"status": status},
        )
        return {(k, s) for k, s in rows}


async def check_idempotent_through_worker(
    h: Harness,
    graph: str,
    t: datetime,
    tables: Sequence[str],
    rerun_step: str,
    *,
    resources: Mapping[str, Any] | None = None,
    params: Mapping[str, Any] | None = None,
) -> tuple[uuid.UUID, dict[str, list[str]]]:
    """Run ``graph`` at ``t`` through a worker twice, then re-run one step of the
    first run; the tables must be identical, row for row, after each."""
    await h.start_worker(resources=resources)
    first = await h.run(graph, logical_time=t, params=params)
    assert await h.client.wait(first, timeout_s=30) == RunStatus.SUCCEEDED
    once = await dump(h.client.sessions, tables)

    second = await h.run(graph, logical_time=t, params=params)
    assert await h.client.wait(second, timeout_s=30) == RunStatus.SUCCEEDED
    assert await dump(h.client.sessions, tables) == once

    await h.client.rerun(first, rerun_step, "test")
    assert await h.client.wait(first, timeout_s=30) == RunStatus.SUCCEEDED
    assert await dump(h.client.sessions, tables) == once
    steps = await h.steps(first)
    assert steps[rerun_step]["attempt"] == 2

    return first, once
