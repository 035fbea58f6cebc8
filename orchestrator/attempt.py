"""One attempt of one step, as a short sequence of phases.

``claim`` (mark it running, committed at once) → ``run`` (lock the step, load its
inputs, call the task inside the attempt's transaction) → ``record`` (output,
success, the successors' readiness and the run's end in that same transaction,
one call of ``rr_complete_step``) → ``enqueue`` (hand the ready successors to
arq after the commit). A failure rolls the attempt's transaction back and
records the error in a new one.

The claim and the transaction share one pooled connection: the claim runs on the
driver's connection before the transaction begins, so it commits on its own in
one round trip, and the hand-off pays for one checkout, not two.

Everything after the claim happens inside the attempt's span (a child of its
run's trace), so the database and Redis work of the attempt nest under it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
)

from orchestrator import state
from orchestrator.context import StepContext
from orchestrator.db import transaction
from orchestrator.errors import StepTimeoutError
from orchestrator.expansion import apply_expansion
from orchestrator.graph import Expansion, backoff_delay, get_task, is_retryable
from orchestrator.logs import identity
from orchestrator.states import AttemptStatus, RunStatus
from orchestrator.telemetry import AttemptFacts, Telemetry
from orchestrator.tracing import AttemptSpan, Outcome

logger = logging.getLogger(__name__)

Enqueue = Callable[[list[state.QueuedAttempt]], Awaitable[None]]


@dataclass
class Runtime:
    """What attempts need from their worker process."""

    sessions: async_sessionmaker[AsyncSession]
    enqueue: Enqueue
    worker_id: str
    resources: Mapping[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    telemetry: Telemetry = field(default_factory=Telemetry)

    @property
    def engine(self) -> AsyncEngine:
        engine: AsyncEngine = self.sessions.kw["bind"]
        return engine


class _NotCurrent(Exception):
    """The attempt was superseded or its run cancelled before it could commit."""


class TaskMissingError(Exception):
    """The step names a task this deployment no longer has."""


async def execute_attempt(
    runtime: Runtime, run_id: uuid.UUID, step_key: str, attempt: int
) -> None:
    """Run one attempt end to end; safe to call again for the same attempt."""
    with identity(run_id=str(run_id), step_key=step_key, attempt=attempt):
        async with runtime.engine.connect() as conn:
            driver = (await conn.get_raw_connection()).driver_connection
            claim = await state.claim_attempt(
                driver, run_id, step_key, attempt, runtime.worker_id
            )
            if claim is None:
                logger.debug(
                    "attempt %d of step %s is not runnable, ignoring delivery",
                    attempt,
                    step_key,
                    extra={"event": "attempt.ignored"},
                )
                return
            if claim.deliveries > 1:
                logger.warning(
                    "attempt %d of step %s delivered %d times, running it again",
                    attempt,
                    step_key,
                    claim.deliveries,
                    extra={"event": "attempt.redelivered"},
                )
            facts = AttemptFacts(
                run_id=run_id,
                step_key=step_key,
                attempt=attempt,
                task=claim.task,
                graph_name=claim.graph_name,
                traceparent=claim.traceparent,
                queue_lag_s=claim.queue_lag_s,
            )
            with runtime.telemetry.attempt(facts) as span:
                await _run_and_record(runtime, conn, run_id, step_key, attempt, span)


async def _run_and_record(
    runtime: Runtime,
    conn: AsyncConnection,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
    span: AttemptSpan,
) -> None:
    try:
        done = await _run_in_transaction(runtime, conn, run_id, step_key, attempt)
    except _NotCurrent:
        logger.info(
            "attempt %d of step %s was superseded or cancelled; rolled back",
            attempt,
            step_key,
            extra={"event": "attempt.fenced"},
        )
        cancelled = await _record_cancellation(runtime, run_id, step_key, attempt)
        span.finish(Outcome.CANCELLED if cancelled else Outcome.FENCED)
        return
    except asyncio.CancelledError:
        cancelled = await _record_cancellation(runtime, run_id, step_key, attempt)
        span.finish(Outcome.CANCELLED if cancelled else Outcome.LOST)
        raise
    except Exception as exc:
        outcome, ended = await _record_failure(runtime, run_id, step_key, attempt, exc)
        span.finish(outcome, exc, run_status=ended)
        return
    span.finish(Outcome.SUCCEEDED, run_status=done.run_status)
    await runtime.enqueue(done.queued)


async def _run_in_transaction(
    runtime: Runtime,
    conn: AsyncConnection,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
) -> state.Completion:
    async with runtime.sessions(bind=conn) as session, session.begin():
        claimed = await state.lock_running_step(session, run_id, step_key, attempt)
        if claimed is None:
            raise _NotCurrent
        ctx = StepContext(
            run_id=run_id,
            graph_name=claimed.graph_name,
            step_key=step_key,
            attempt=attempt,
            logical_time=claimed.logical_time,
            trigger=claimed.trigger,
            actor=claimed.actor,
            params={**claimed.run_params, **claimed.step_params},
            inputs=claimed.inputs,
            session=session,
            resources=runtime.resources,
        )
        with identity(graph_name=claimed.graph_name):
            result = await _call_task(claimed, ctx)
        return await _record_success(session, claimed, result)


async def _call_task(claimed: state.ClaimedStep, ctx: StepContext) -> Any:
    fn = get_task(claimed.task)
    if fn is None:
        msg = (
            f"task {claimed.task!r} of step {claimed.step_key!r} no longer exists in "
            "this deployment; re-run the graph with the current definition"
        )
        raise TaskMissingError(msg)
    try:
        async with asyncio.timeout(claimed.timeout_s):
            return await fn(ctx)
    except TimeoutError as exc:
        msg = (
            f"step {claimed.step_key!r} ran past its timeout of {claimed.timeout_s:g}s"
        )
        raise StepTimeoutError(msg) from exc


async def _record_success(
    session: AsyncSession, claimed: state.ClaimedStep, result: Any
) -> state.Completion:
    """Record the output, queue successors and finish the run if it is over."""
    output = result
    if isinstance(result, Expansion):
        await apply_expansion(session, claimed.run_id, claimed.step_key, result)
        output = result.output
    output = state.output_json(output)
    done = await state.complete_step(
        session, claimed.run_id, claimed.step_key, claimed.attempt, output
    )
    if done is None:
        raise _NotCurrent
    logger.info(
        "step %s succeeded on attempt %d",
        claimed.step_key,
        claimed.attempt,
        extra={"event": "step.succeeded"},
    )

    return done


def _failure_info(policy: Mapping[str, Any], exc: BaseException) -> state.FailureInfo:
    retryable = not isinstance(exc, TaskMissingError) and is_retryable(policy, exc)
    text = "".join(traceback.format_exception(exc))

    return state.FailureInfo(
        error_type=f"{type(exc).__module__}.{type(exc).__qualname__}",
        message=str(exc) or type(exc).__name__,
        traceback=text[-20_000:],
        retryable=retryable,
    )


async def _record_failure(
    runtime: Runtime,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
    exc: BaseException,
) -> tuple[Outcome, str | None]:
    """Record a failed attempt; returns its outcome and the run's end, if any."""
    async with transaction(runtime.sessions) as session:
        policy = await session.scalar(
            text(
                "SELECT retry_policy FROM step_runs"
                " WHERE run_id = :run AND step_key = :key"
            ),
            {"run": run_id, "key": step_key},
        )
        info = _failure_info(policy or {}, exc)
        delay = backoff_delay(policy, attempt, runtime.rng) if policy else 0.0
        outcome = await state.record_failure(
            session, run_id, step_key, attempt, info, delay
        )
    if not outcome.recorded:
        return Outcome.FENCED, None
    if outcome.retry is not None:
        logger.warning(
            "attempt %d of step %s failed, retrying in %.1fs: %s",
            attempt,
            step_key,
            delay,
            info.error_type,
            extra={"event": "attempt.failed"},
        )
        await runtime.enqueue([outcome.retry])
        return Outcome.RETRYING, None
    logger.error(
        "step %s failed on attempt %d: %s: %s",
        step_key,
        attempt,
        info.error_type,
        info.message,
        extra={"event": "step.failed"},
    )

    return Outcome.FAILED, outcome.run_status


async def _record_cancellation(
    runtime: Runtime, run_id: uuid.UUID, step_key: str, attempt: int
) -> bool:
    """Record an attempt stopped because its run was cancelled; False if it was not.

    A cancellation for any other reason (the worker shutting down) leaves the
    attempt ``running``: arq delivers the same job again and it runs anew.
    """
    async with transaction(runtime.sessions) as session:
        if await state.run_status(session, run_id) != RunStatus.CANCELLED:
            return False
        await state.cancel_attempt(session, run_id, step_key, attempt)
    logger.info(
        "attempt %d of step %s stopped: its run was cancelled",
        attempt,
        step_key,
        extra={"event": "attempt.cancelled"},
    )

    return True


__all__ = ["AttemptStatus", "Runtime", "execute_attempt"]
