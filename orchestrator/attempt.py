"""One attempt of one step, as a short sequence of phases.

``claim`` (mark it running, committed at once, and read all the attempt needs)
→ ``run`` (begin the attempt's transaction, lock the step, call the task) →
``record`` (output, success, the successors' readiness and the run's end in that
same transaction, one call of ``rr_complete_step``) → ``enqueue`` (hand the
ready successors to arq after the commit). A failure rolls the attempt's
transaction back and records the error in a new one.

The claim and the transaction share one pooled connection, and the engine sends
its own statements through the driver: four round trips to PostgreSQL per
attempt (claim; ``BEGIN`` with the lock; completion; ``COMMIT``). The engine, not
SQLAlchemy, begins and ends the transaction: the connection is in SQLAlchemy's
AUTOCOMMIT mode, so the task's session sends its statements inside the
attempt's transaction and its ``commit()`` sends nothing; what the task wrote
commits with the step's success or not at all.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random
import traceback
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import asyncpg
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

    @functools.cached_property
    def autocommit_engine(self) -> AsyncEngine:
        """The engine's pool, its connections checked out in AUTOCOMMIT mode."""
        return self.engine.execution_options(isolation_level="AUTOCOMMIT")


class _NotCurrent(Exception):
    """The attempt was superseded or its run cancelled before it could commit."""


class TaskMissingError(Exception):
    """The step names a task this deployment no longer has."""


async def execute_attempt(
    runtime: Runtime, run_id: uuid.UUID, step_key: str, attempt: int
) -> None:
    """Run one attempt end to end; safe to call again for the same attempt."""
    with identity(run_id=str(run_id), step_key=step_key, attempt=attempt):
        # The engine begins and ends the attempt's transaction itself; with
        # AUTOCOMMIT, SQLAlchemy sends no BEGIN or COMMIT of its own, so the
        # task's session runs its statements inside that transaction.
        async with runtime.autocommit_engine.connect() as conn:
            # Checked out just now, so reading it needs no I/O (and no greenlet).
            sync = conn.sync_connection
            assert sync is not None
            driver: asyncpg.Connection = sync.connection.driver_connection
            try:
                await _claim_and_run(runtime, conn, driver, run_id, step_key, attempt)
            finally:
                await _end_transaction(conn, driver)


async def _claim_and_run(
    runtime: Runtime,
    conn: AsyncConnection,
    driver: asyncpg.Connection,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
) -> None:
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
    step = claim.step
    facts = AttemptFacts(
        run_id=run_id,
        step_key=step_key,
        attempt=attempt,
        task=step.task,
        graph_name=step.graph_name,
        traceparent=step.traceparent,
        queue_lag_s=claim.queue_lag_s,
    )
    with runtime.telemetry.attempt(facts) as span:
        await _run_and_record(runtime, conn, driver, step, span)


async def _end_transaction(conn: AsyncConnection, driver: asyncpg.Connection) -> None:
    """Roll back what the attempt left open; discard a connection that cannot.

    The pool's own reset sends nothing on an AUTOCOMMIT connection, so this is
    what keeps an open transaction (and the step's row lock) from going back
    into the pool.
    """
    if driver.is_closed() or not driver.is_in_transaction():
        return
    try:
        await driver.execute("ROLLBACK")
    except BaseException:
        await conn.invalidate()
        raise


async def _run_and_record(
    runtime: Runtime,
    conn: AsyncConnection,
    driver: asyncpg.Connection,
    step: state.ClaimedStep,
    span: AttemptSpan,
) -> None:
    run_id, step_key, attempt = step.run_id, step.step_key, step.attempt
    try:
        done = await _run_in_transaction(runtime, conn, driver, step)
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
    driver: asyncpg.Connection,
    step: state.ClaimedStep,
) -> state.Completion:
    """Lock, run the task, record its success and commit; rolled back on error."""
    database = runtime.engine.url.database
    statement = runtime.telemetry.statement
    try:
        with statement(state.BEGIN_AND_LOCK, database):
            locked = await state.begin_and_lock(driver, step)
        if not locked:
            raise _NotCurrent
        session = runtime.sessions(bind=conn)
        try:
            ctx = StepContext(
                run_id=step.run_id,
                graph_name=step.graph_name,
                step_key=step.step_key,
                attempt=step.attempt,
                logical_time=step.logical_time,
                trigger=step.trigger,
                actor=step.actor,
                params={**step.run_params, **step.step_params},
                inputs=step.inputs,
                session=session,
                resources=runtime.resources,
            )
            with identity(graph_name=step.graph_name):
                result = await _call_task(step, ctx)
            done = await _record_success(runtime, session, driver, step, result)
        finally:
            # A session the task never used holds nothing to release.
            if session.sync_session.in_transaction():
                await session.close()
        with statement("COMMIT", database):
            await driver.execute("COMMIT")
    except BaseException:
        await _end_transaction(conn, driver)
        raise

    return done


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
    runtime: Runtime,
    session: AsyncSession,
    driver: asyncpg.Connection,
    claimed: state.ClaimedStep,
    result: Any,
) -> state.Completion:
    """Record the output, queue successors and finish the run if it is over."""
    output = result
    if isinstance(result, Expansion):
        await apply_expansion(session, claimed.run_id, claimed.step_key, result)
        output = result.output
    output = state.output_json(output)
    # ORM objects the task added are written before the step is marked done.
    if session.new or session.dirty or session.deleted:
        await session.flush()
    with runtime.telemetry.statement(state.COMPLETE_STEP, runtime.engine.url.database):
        done = await state.complete_step(
            driver, claimed.run_id, claimed.step_key, claimed.attempt, output
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
