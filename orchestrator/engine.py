"""Operator actions on runs: trigger, retry a step, re-run a step, cancel.

Each action is one transaction that moves state (see :mod:`orchestrator.state`),
records who asked in the ``actions`` table, and hands any step it made ready to
arq after the commit.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from opentelemetry.trace import TracerProvider
from sqlalchemy import Boolean, bindparam, insert, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator import state
from orchestrator.db import transaction
from orchestrator.errors import (
    GraphValidationError,
    RunFinishedError,
    RunInProgressError,
    RunNotFoundError,
    StepNotFoundError,
    StepNotRetryableError,
)
from orchestrator.graph import Graph
from orchestrator.models import ActionRow
from orchestrator.states import RunStatus, StepRunStatus, Trigger
from orchestrator.tracing import run_trace

logger = logging.getLogger(__name__)

Enqueue = Callable[[list[state.QueuedAttempt]], Awaitable[None]]


@dataclass(frozen=True)
class TriggerResult:
    """The run a trigger started, or the existing run it answered with."""

    run_id: uuid.UUID
    created: bool
    status: str


class TriggerRejectedError(GraphValidationError):
    """The trigger's logical time or parameters are not acceptable."""


def check_params(graph: Graph, params: Mapping[str, Any]) -> dict[str, Any]:
    """The run parameters with defaults filled in; refuses unknown names."""
    unknown = sorted(set(params) - set(graph.params_schema))
    if unknown:
        accepted = ", ".join(sorted(graph.params_schema)) or "none"
        msg = (
            f"graph {graph.name!r} does not take parameter(s) {', '.join(unknown)}; "
            f"it accepts: {accepted}"
        )
        raise TriggerRejectedError(msg)

    return {**graph.params_schema, **params}


async def trigger_run(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: Enqueue,
    graph: Graph,
    *,
    logical_time: datetime,
    trigger: Trigger,
    actor: str,
    params: Mapping[str, Any] | None = None,
    dedup_key: str | None = None,
    traceparent: str | None = None,
    ignore_concurrency: bool = False,
    tracer_provider: TracerProvider | None = None,
) -> TriggerResult:
    """Start a run of ``graph``; answer with the existing run where one applies.

    A schedule slot (``trigger="schedule"``) or a ``dedup_key`` already used for
    this graph answers with that run instead of starting a new one.
    ``ignore_concurrency`` lets a backfill start past ``max_active_runs``.

    A created run gets its trace: a short ``Run:<graph_name>`` span (from
    ``tracer_provider``; none without one) whose ``traceparent`` and trace id
    are stored on the run. Its parent is the caller's ``traceparent`` if given,
    else the current span (an API request's).

    Raises:
        RunInProgressError: the graph's ``max_active_runs`` is reached.
        TriggerRejectedError: bad parameters, or a future logical time for a
            graph that refuses one.
    """
    if logical_time.tzinfo is None:
        msg = "logical time must carry a time zone (for example 2026-01-31T02:00Z)"
        raise TriggerRejectedError(msg)
    if not graph.future_logical_time and logical_time > datetime.now(UTC):
        msg = (
            f"graph {graph.name!r} deletes or archives data and refuses a logical "
            f"time in the future ({logical_time.isoformat()})"
        )
        raise TriggerRejectedError(msg)
    full_params = check_params(graph, params or {})
    with run_trace(tracer_provider, graph.name, traceparent=traceparent) as traced:
        run_id = uuid.uuid4()
        trace_fields = traced.start(run_id, trigger=trigger, logical_time=logical_time)
        rows = await _start_run(
            sessions,
            graph,
            run_id,
            logical_time=logical_time,
            trigger=str(trigger),
            actor=actor,
            params=json.dumps(full_params),
            dedup_key=dedup_key,
            max_active=None if ignore_concurrency else graph.max_active_runs,
            **trace_fields,
        )
        kind = rows[0][0]
        if kind == "existing":
            traced.discard()
            return TriggerResult(rows[0][1], created=False, status=rows[0][2])
        if kind == "busy":
            traced.discard()
            raise RunInProgressError(graph.name, [row[1] for row in rows])
        logger.info(
            "run %s of graph %s created by %s (%s)",
            run_id,
            graph.name,
            actor,
            trigger,
            extra={
                "event": "run.created",
                "run_id": str(run_id),
                "graph_name": graph.name,
                "trace_id": trace_fields["trace_id"],
            },
        )
        await enqueue(
            [
                state.QueuedAttempt(run_id, key, 1)
                for k, _, _, key in rows
                if k == "queued"
            ]
        )

    return TriggerResult(run_id, created=True, status=RunStatus.PENDING.value)


_START_RUN = text(
    """
    SELECT o_kind, o_run, o_status, o_key FROM rr_start_run(
        :run, :graph, :hash, CAST(:definition AS jsonb), :is_root, :trigger,
        :actor, :logical_time, CAST(:params AS jsonb), :dedup_key, :traceparent,
        :trace_id, :max_active)
    """
).bindparams(bindparam("is_root", type_=ARRAY(Boolean)))


async def _start_run(
    sessions: async_sessionmaker[AsyncSession],
    graph: Graph,
    run_id: uuid.UUID,
    **fields: Any,
) -> list[Any]:
    """Check and create the run, its steps and edges, queueing its roots
    (``rr_start_run``, migration 0005: one statement, its own transaction)."""
    engine: AsyncEngine = sessions.kw["bind"]
    params = {
        "run": run_id,
        "graph": graph.name,
        "hash": graph.definition_hash,
        "definition": graph.definition_text,
        "is_root": graph.root_flags,
        **fields,
    }
    async with engine.connect() as conn:
        autocommit = await conn.execution_options(isolation_level="AUTOCOMMIT")
        rows = list(await autocommit.execute(_START_RUN, params))

    return rows


async def record_action(
    session: AsyncSession, actor: str, action: str, subject: str, **details: Any
) -> None:
    """Record who asked for a change (the audit trail)."""
    await session.execute(
        insert(ActionRow).values(
            actor=actor, action=action, subject=subject, details=details
        )
    )


async def _lock_run(session: AsyncSession, run_id: uuid.UUID) -> str:
    status = await session.scalar(
        text("SELECT status FROM runs WHERE id = :run FOR UPDATE"), {"run": run_id}
    )
    if status is None:
        raise RunNotFoundError(run_id)

    return str(status)


async def _step_status(session: AsyncSession, run_id: uuid.UUID, step_key: str) -> str:
    status = await session.scalar(
        text(
            "SELECT status FROM step_runs WHERE run_id = :run AND step_key = :key"
            " FOR UPDATE"
        ),
        {"run": run_id, "key": step_key},
    )
    if status is None:
        raise StepNotFoundError(run_id, step_key)

    return str(status)


_RESET = text(
    """
    UPDATE step_runs SET status = 'pending', budget_start = attempt + 1,
           error = NULL, finished_at = NULL, not_before = NULL
    WHERE run_id = :run AND step_key = ANY(:keys) AND status = ANY(:from_status)
    """
)

_REOPEN_RUN = text(
    "UPDATE runs SET status = 'running', finished_at = NULL WHERE id = :run"
)


async def retry_step(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: Enqueue,
    run_id: uuid.UUID,
    step_key: str,
    actor: str,
) -> TriggerResult:
    """Retry one failed step with a fresh budget, reusing succeeded outputs.

    The step goes back to ``pending`` (attempt numbers continue), its
    ``upstream_failed`` descendants too, and the run to ``running``.

    Raises:
        StepNotRetryableError: the step is not ``failed``, or the run was
            cancelled.
    """
    async with transaction(sessions) as session:
        run_status = await _lock_run(session, run_id)
        status = await _step_status(session, run_id, step_key)
        if status != StepRunStatus.FAILED:
            msg = (
                f"step {step_key!r} of run {run_id} has status {status}; only failed "
                "steps can be retried (use rerun for a succeeded step)"
            )
            raise StepNotRetryableError(msg, run_id, step_key)
        if run_status == RunStatus.CANCELLED:
            msg = f"run {run_id} was cancelled; trigger a new run instead"
            raise StepNotRetryableError(msg, run_id, step_key)
        below = await state.descendants(session, run_id, step_key)
        await session.execute(
            _RESET, {"run": run_id, "keys": [step_key], "from_status": ["failed"]}
        )
        await session.execute(
            _RESET, {"run": run_id, "keys": below, "from_status": ["upstream_failed"]}
        )
        await session.execute(_REOPEN_RUN, {"run": run_id})
        queued = await state.queue_ready(session, run_id, [step_key])
        await record_action(session, actor, "retry_step", f"{run_id}/{step_key}")
    logger.info(
        "step %s of run %s retried by %s",
        step_key,
        run_id,
        actor,
        extra={"event": "step.retried", "run_id": str(run_id), "step_key": step_key},
    )
    await enqueue(queued)

    return TriggerResult(run_id, created=False, status=RunStatus.RUNNING.value)


async def rerun_step(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: Enqueue,
    run_id: uuid.UUID,
    step_key: str,
    actor: str,
) -> TriggerResult:
    """Run a succeeded step and all its descendants again (its inputs changed).

    Only for a finished run; steps a re-run step had expanded are replaced by
    what it expands into this time.

    Raises:
        StepNotRetryableError: the step has not succeeded or the run is in
            progress.
    """
    async with transaction(sessions) as session:
        run_status = await _lock_run(session, run_id)
        status = await _step_status(session, run_id, step_key)
        if status != StepRunStatus.SUCCEEDED:
            msg = (
                f"step {step_key!r} of run {run_id} has status {status}; only a "
                "succeeded step can be re-run (use retry for a failed one)"
            )
            raise StepNotRetryableError(msg, run_id, step_key)
        if run_status not in {RunStatus.SUCCEEDED, RunStatus.FAILED}:
            msg = (
                f"run {run_id} is {run_status}; a step can be re-run only once its "
                "run has finished"
            )
            raise StepNotRetryableError(msg, run_id, step_key)
        await _drop_expansions(session, run_id, step_key)
        keys = [step_key, *await state.descendants(session, run_id, step_key)]
        await session.execute(
            _RESET,
            {
                "run": run_id,
                "keys": keys,
                "from_status": ["succeeded", "failed", "upstream_failed", "cancelled"],
            },
        )
        await session.execute(_REOPEN_RUN, {"run": run_id})
        queued = await state.queue_ready(session, run_id, [step_key])
        await record_action(session, actor, "rerun_step", f"{run_id}/{step_key}")
    await enqueue(queued)

    return TriggerResult(run_id, created=False, status=RunStatus.RUNNING.value)


async def _drop_expansions(
    session: AsyncSession, run_id: uuid.UUID, step_key: str
) -> None:
    """Delete steps expanded by ``step_key`` or its descendants (they re-expand)."""
    keys = [step_key, *await state.descendants(session, run_id, step_key)]
    await session.execute(
        text(
            "DELETE FROM step_runs WHERE run_id = :run AND expanded_from = ANY(:keys)"
        ),
        {"run": run_id, "keys": keys},
    )
    await session.execute(
        text("DELETE FROM expansions WHERE run_id = :run AND step_key = ANY(:keys)"),
        {"run": run_id, "keys": keys},
    )


async def cancel_run(
    sessions: async_sessionmaker[AsyncSession], run_id: uuid.UUID, actor: str
) -> list[str]:
    """Cancel a run: waiting steps at once, running ones when they next commit.

    Returns:
        The arq job ids of attempts still running, for the caller to abort.

    Raises:
        RunFinishedError: the run has already finished.
    """
    async with transaction(sessions) as session:
        status = await _lock_run(session, run_id)
        if status not in {RunStatus.PENDING, RunStatus.RUNNING}:
            raise RunFinishedError(run_id, status)
        await session.execute(
            text(
                "UPDATE runs SET status = 'cancelled', finished_at = clock_timestamp()"
                " WHERE id = :run"
            ),
            {"run": run_id},
        )
        await session.execute(
            text(
                """
                UPDATE step_runs SET status = 'cancelled', finished_at = clock_timestamp()
                WHERE run_id = :run AND step_key IN (
                    SELECT step_key FROM step_runs WHERE run_id = :run
                      AND status IN ('pending', 'queued') FOR UPDATE SKIP LOCKED)
                """
            ),
            {"run": run_id},
        )
        await session.execute(
            text(
                "UPDATE attempts SET status = 'cancelled', finished_at = clock_timestamp()"
                " WHERE run_id = :run AND status = 'queued'"
            ),
            {"run": run_id},
        )
        running = await session.scalars(
            text(
                "SELECT job_id FROM attempts WHERE run_id = :run AND status = 'running'"
            ),
            {"run": run_id},
        )
        job_ids = list(running)
        await record_action(session, actor, "cancel_run", str(run_id))
    logger.info(
        "run %s cancelled by %s",
        run_id,
        actor,
        extra={"event": "run.cancelled", "run_id": str(run_id)},
    )

    return job_ids
