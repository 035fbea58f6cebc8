"""Storing a dynamic expansion: new steps and edges added to a running run."""

from __future__ import annotations

import uuid
from collections import defaultdict

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.graph import Expansion, expansion_edges, validate_expansion
from orchestrator.history import run_edges
from orchestrator.models import ExpansionRow, StepEdgeRow, StepRunRow
from orchestrator.states import StepRunStatus

_BATCH = 2_000


async def apply_expansion(
    session: AsyncSession, run_id: uuid.UUID, expander: str, expansion: Expansion
) -> None:
    """Validate ``expansion`` against the run's steps and add it, as ``pending``.

    Raises:
        GraphValidationError: a key clash, an unknown task or step, or a cycle
            (``GraphCycleError`` names its nodes).
    """
    existing: dict[str, list[str]] = defaultdict(list)
    keys = await session.scalars(
        select(StepRunRow.step_key).where(StepRunRow.run_id == run_id)
    )
    for key in keys:
        existing[key]
    for upstream, downstream in await run_edges(session, run_id):
        existing[upstream].append(downstream)
    validate_expansion(expander, existing, expansion)

    rows = [step_row(run_id, step.to_json(), expander) for step in expansion.steps]
    for start in range(0, len(rows), _BATCH):
        await session.execute(insert(StepRunRow), rows[start : start + _BATCH])
    all_edges = [
        {"run_id": run_id, "upstream": u, "downstream": d}
        for u, d in expansion_edges(expander, existing, expansion)
    ]
    for start in range(0, len(all_edges), _BATCH):
        await session.execute(insert(StepEdgeRow), all_edges[start : start + _BATCH])
    await session.execute(
        insert(ExpansionRow).values(
            run_id=run_id,
            step_key=expander,
            steps=[step.to_json() for step in expansion.steps],
            edges=[list(edge) for edge in expansion.edges],
        )
    )


def step_row(
    run_id: uuid.UUID, step: dict[str, object], expanded_from: str | None
) -> dict[str, object]:
    retry = step["retry"]
    assert isinstance(retry, dict)
    return {
        "run_id": run_id,
        "step_key": step["key"],
        "task": step["task"],
        "status": StepRunStatus.PENDING.value,
        "params": step["params"],
        "attempt": 0,
        "budget_start": 1,
        "max_attempts": retry["max_attempts"],
        "timeout_s": step["timeout_s"],
        "retry_policy": retry,
        "expanded_from": expanded_from,
    }
