"""Helpers for the maintenance jobs' tests: domain rows, one task, table dumps."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.context import StepContext
from orchestrator.graph import TaskFn
from tasks.providers import Providers
from tasks.providers.local import local_providers
from tasks.schema import DomainBase, Rule

CREATED = datetime(2026, 1, 1, tzinfo=UTC)


def rule(rule_id: str, **fields: Any) -> Rule:
    """An active English rule with every required column set; ``fields`` override."""
    values: dict[str, Any] = {
        "id": rule_id,
        "title": f"title of {rule_id}",
        "text": f"text of {rule_id}",
        "locale": "en",
        "version": 1,
        "maturity": "stable",
        "status": "active",
        "created_at": CREATED,
        "review_interval_days": 180,
        "legal_hold": False,
        "scope": "security",
        "effect": "deny",
        "pattern": None,
        "required_locales": [],
        "examples": [],
        "source": "test",
    }

    return Rule(**{**values, **fields})


async def add(sessions: async_sessionmaker[AsyncSession], *rows: Any) -> None:
    """Insert ORM rows in one transaction, in order (rules before their children)."""
    async with sessions() as session, session.begin():
        for row in rows:
            session.add(row)
            await session.flush()


async def run_task(
    sessions: async_sessionmaker[AsyncSession],
    fn: TaskFn,
    logical_time: datetime,
    *,
    inputs: Mapping[str, Any] | None = None,
    providers: Providers | None = None,
    graph_name: str = "test",
    step_key: str = "step",
) -> dict[str, Any]:
    """One attempt of one task in its own transaction, as the engine runs it."""
    async with sessions() as session, session.begin():
        ctx = StepContext(
            run_id=uuid.uuid4(),
            graph_name=graph_name,
            step_key=step_key,
            attempt=1,
            logical_time=logical_time,
            trigger="cli",
            actor="test",
            params={},
            inputs=dict(inputs or {}),
            session=session,
            resources={"providers": providers or local_providers()},
        )
        output = await fn(ctx)

    decoded: dict[str, Any] = json.loads(json.dumps(output))

    return decoded


async def dump_domain(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[str, list[tuple[Any, ...]]]:
    """Every domain table's rows, ordered by their whole text, for exact comparison."""
    dumps = {}
    async with sessions() as session:
        for table in sorted(DomainBase.metadata.tables):
            rows = await session.execute(
                text(f"SELECT * FROM {table} AS t ORDER BY CAST(t AS text)")
            )
            dumps[table] = [tuple(row) for row in rows]

    return dumps


async def alerts(
    sessions: async_sessionmaker[AsyncSession], kind: str, status: str = "open"
) -> dict[str, dict[str, Any]]:
    """The alerts of one kind and status, by subject."""
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT subject, rule_id, locale, severity, details, first_seen_at,"
                " last_seen_at FROM alerts WHERE kind = :kind AND status = :status"
            ),
            {"kind": kind, "status": status},
        )
        return {row.subject: dict(row._mapping) for row in rows}
