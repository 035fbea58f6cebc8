"""The run state machine: every transition of runs, step runs and attempts.

Each function here is one transition, written as set-based SQL inside the caller's
transaction. The rules they keep:

* A step becomes ``queued`` (with a new attempt row) only when every predecessor
  has ``succeeded``. The function ``rr_queue_ready`` (migration 0002) locks each
  candidate by its primary key, in key order, before it checks, so two
  predecessors finishing at once can neither both miss nor both claim a
  successor; touching rows only by full primary key keeps a 10,000-step fan-out
  from turning each completion into a scan of the run.
* An attempt commits only while it is still its step's current attempt and
  ``running``; anything else (superseded by the sweep, cancelled) rolls back.
* A run finishes only when none of its steps is ``pending``, ``queued`` or
  ``running``; the finisher locks the run row and counts again, so of two steps
  finishing last at the same time the second one to commit sees the first.

Times use ``clock_timestamp()``: ``now()`` is the start of the transaction, and an
attempt's transaction lasts as long as its task.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.types import String

from orchestrator.states import (
    AttemptStatus,
)


def job_id_for(run_id: uuid.UUID | str, step_key: str, attempt: int) -> str:
    """The arq job id of one attempt; the same attempt always maps to the same id."""
    return f"rr:{run_id}:{attempt}:{step_key}"


def parse_job_id(job_id: str) -> tuple[uuid.UUID, str, int] | None:
    """Run id, step key and attempt of an attempt's job id; ``None`` for any other.

    The step key comes last, so a key that contains ``:`` still parses.
    """
    prefix, _, rest = job_id.partition(":")
    run, _, rest = rest.partition(":")
    attempt, _, step_key = rest.partition(":")
    if prefix != "rr" or not step_key or not attempt.isdigit():
        return None
    try:
        return uuid.UUID(run), step_key, int(attempt)
    except ValueError:
        return None


@dataclass(frozen=True)
class QueuedAttempt:
    """An attempt that was made ``queued`` and must be handed to arq."""

    run_id: uuid.UUID
    step_key: str
    attempt: int
    defer_s: float = 0.0

    @property
    def job_id(self) -> str:
        return job_id_for(self.run_id, self.step_key, self.attempt)


@dataclass(frozen=True)
class ClaimedStep:
    """What an attempt needs to run, read when it was claimed."""

    run_id: uuid.UUID
    step_key: str
    attempt: int
    task: str
    graph_name: str
    logical_time: datetime
    trigger: str
    actor: str
    run_params: dict[str, Any]
    step_params: dict[str, Any]
    timeout_s: float
    retry_policy: dict[str, Any]
    traceparent: str | None
    inputs: dict[str, Any] = field(default_factory=dict)


# Run on the attempt's connection outside any transaction, so it commits at once;
# asyncpg's numbered parameters. Besides the claim it reads all the attempt
# needs: the step, its run and its predecessors' outputs (they are fixed while
# the step runs: a change to any of them moves the step out of ``running``,
# which the lock that follows checks).
#
# Its commit does not wait for the disk (synchronous_commit off for this one
# transaction): the write-ahead log is flushed in order, so a claim is durable
# as soon as anything after it is, the attempt's own commit included, which
# waits as usual. A server crash can only lose the claims of attempts whose
# transactions it also ends; their steps look queued again and the sweep
# hands them to arq once more.
_CLAIM = """
    WITH a AS (
        UPDATE attempts SET status = 'running', worker_id = $4,
               started_at = coalesce(started_at, clock_timestamp()),
               heartbeat_at = clock_timestamp(), deliveries = deliveries + 1
        WHERE run_id = $1 AND step_key = $2 AND attempt = $3
          AND status IN ('queued', 'running')
          AND EXISTS (
              SELECT 1 FROM step_runs s JOIN runs r ON r.id = s.run_id
              WHERE s.run_id = $1 AND s.step_key = $2 AND s.attempt = $3
                AND s.status IN ('queued', 'running')
                AND r.status IN ('pending', 'running'))
        RETURNING deliveries, started_at, queued_at
    ), s AS (
        UPDATE step_runs SET status = 'running',
               started_at = coalesce(started_at, clock_timestamp())
        WHERE run_id = $1 AND step_key = $2 AND EXISTS (SELECT 1 FROM a)
    ), r AS (
        UPDATE runs SET status = 'running',
               started_at = coalesce(started_at, clock_timestamp())
        WHERE id = $1 AND status = 'pending' AND EXISTS (SELECT 1 FROM a)
    )
    SELECT a.deliveries,
           extract(epoch FROM a.started_at - greatest(a.queued_at, st.not_before)),
           st.task, st.params, st.timeout_s, st.retry_policy,
           ru.graph_name, ru.logical_time, ru.trigger, ru.actor, ru.params,
           ru.traceparent,
           (SELECT coalesce(jsonb_object_agg(e.upstream,
                                             (SELECT u.output FROM step_runs u
                                              WHERE u.run_id = $1
                                                AND u.step_key = e.upstream)),
                            '{}'::jsonb)
            FROM step_edges e WHERE e.downstream = $2 AND e.run_id = $1),
           set_config('synchronous_commit', 'off', true)
    FROM a, step_runs st, runs ru
    WHERE st.run_id = $1 AND st.step_key = $2 AND ru.id = $1
"""


@dataclass(frozen=True)
class Claim:
    """A claimed attempt: how often it was delivered, and what it runs.

    ``deliveries`` above 1 means arq delivered the same job again (after a crash
    or a duplicate enqueue). ``queue_lag_s`` runs from the later of queued and
    the end of the retry backoff to the start.
    """

    deliveries: int
    queue_lag_s: float | None
    step: ClaimedStep


def _json(raw: Any) -> Any:
    # asyncpg hands jsonb over as text; on the engine's connections SQLAlchemy's
    # codec has already decoded it (and takes it back as text).
    return json.loads(raw) if isinstance(raw, str) else raw


async def claim_attempt(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
    worker: str,
) -> Claim | None:
    """Mark an attempt ``running`` for this worker; ``None`` if it may not run.

    One statement on the driver's connection outside any transaction: the claim
    is committed at once (without waiting for the disk, see ``_CLAIM``), so run
    history shows the step running and the sweep can watch it, and it costs one
    round trip.
    """
    row = await conn.fetchrow(_CLAIM, run_id, step_key, attempt, worker)
    if row is None:
        return None
    deliveries, lag_s, task_name, params, timeout_s, policy = row[:6]
    graph_name, logical_time, trigger, actor, run_params, traceparent = row[6:12]
    step = ClaimedStep(
        run_id=run_id,
        step_key=step_key,
        attempt=attempt,
        task=task_name,
        graph_name=graph_name,
        logical_time=logical_time,
        trigger=trigger,
        actor=actor,
        run_params=dict(_json(run_params) or {}),
        step_params=dict(_json(params) or {}),
        timeout_s=float(timeout_s),
        retry_policy=dict(_json(policy) or {}),
        traceparent=traceparent,
        inputs=dict(_json(row[12]) or {}),
    )

    return Claim(
        deliveries=int(deliveries),
        queue_lag_s=float(lag_s) if lag_s is not None and deliveries == 1 else None,
        step=step,
    )


def sql_literal(value: str) -> str:
    """``value`` as a PostgreSQL string constant, whatever the server's settings.

    The escape-string form (``E'...'``) reads backslashes as escapes whether or
    not ``standard_conforming_strings`` is on, so doubling backslashes and
    escaping quotes is the whole encoding; PostgreSQL text cannot hold NUL.
    """
    if "\x00" in value:
        msg = "a step key cannot contain NUL"
        raise ValueError(msg)
    return "E'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


BEGIN_AND_LOCK = "BEGIN; SELECT * FROM rr_lock_step('{run}', {key}, {attempt})"


async def begin_and_lock(conn: asyncpg.Connection, step: ClaimedStep) -> bool:
    """Begin the attempt's transaction and lock its step row: one round trip.

    False if the row is locked (a second delivery of the same attempt is
    running) or the attempt may no longer run (superseded, or its run
    cancelled); the transaction is open either way. The lock is held until
    the attempt commits or rolls back, so a second delivery cannot run beside
    it, and the sweep, which skips locked rows, never declares a live attempt
    lost.

    Two statements in one simple query (which takes no parameters, hence the
    literals: a UUID, an integer and a quoted key); the second's command tag
    says whether it found the row. The locking query itself is the body of
    ``rr_lock_step`` (migration 0006), planned once per connection.
    """
    statement = BEGIN_AND_LOCK.format(
        run=uuid.UUID(str(step.run_id)),
        key=sql_literal(step.step_key),
        attempt=int(step.attempt),
    )

    return bool(await conn.execute(statement) == "SELECT 1")


COMPLETE_STEP = (
    "SELECT o_key, o_attempt, o_run_status FROM rr_complete_step($1, $2, $3, $4)"
)


@dataclass(frozen=True)
class Completion:
    """What a step's success led to: successors queued, and the run's end."""

    queued: list[QueuedAttempt]
    run_status: str | None


async def complete_step(
    conn: asyncpg.Connection,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
    output: Any,
) -> Completion | None:
    """Mark the attempt and its step ``succeeded``, queue ready successors, and
    finish the run if nothing of it is left to run (``rr_complete_step``,
    migrations 0004 and 0006: one round trip, inside the attempt's transaction).

    ``None`` if the attempt was superseded or its run is no longer running (it
    was cancelled): the caller must roll back.
    """
    rows = await conn.fetch(
        COMPLETE_STEP, run_id, step_key, attempt, json.dumps(output)
    )
    if not rows:
        return None
    queued = [QueuedAttempt(run_id, key, n) for key, n, _ in rows if key is not None]

    return Completion(queued=queued, run_status=rows[-1][2])


async def run_status(session: AsyncSession, run_id: uuid.UUID) -> str | None:
    """The run's status as committed now."""
    value = await session.scalar(
        text("SELECT status FROM runs WHERE id = :run"), {"run": run_id}
    )

    return None if value is None else str(value)


# rr_queue_ready (migration 0002) locks each candidate by its primary key, then
# queues it if every predecessor has succeeded, and inserts its attempt row.
_QUEUE_READY = text(
    "SELECT step_key, attempt FROM rr_queue_ready(:run, :keys)"
).bindparams(bindparam("keys", type_=ARRAY(String)))


async def queue_ready(
    session: AsyncSession, run_id: uuid.UUID, candidates: list[str]
) -> list[QueuedAttempt]:
    """Queue those ``pending`` candidates whose predecessors have all succeeded."""
    if not candidates:
        return []
    params = {"run": run_id, "keys": sorted(candidates)}
    rows = await session.execute(_QUEUE_READY, params)

    return [QueuedAttempt(run_id, key, attempt) for key, attempt in rows]


_WAITING = text(
    """
    SELECT EXISTS (SELECT 1 FROM step_runs WHERE run_id = :run
                   AND status IN ('pending', 'queued'))
    """
)

_FINISH_RUN = text(
    """
    UPDATE runs SET status = CASE
            WHEN EXISTS (SELECT 1 FROM step_runs WHERE run_id = :run
                         AND status IN ('failed', 'upstream_failed')) THEN 'failed'
            WHEN EXISTS (SELECT 1 FROM step_runs WHERE run_id = :run
                         AND status = 'cancelled') THEN 'cancelled'
            ELSE 'succeeded' END,
        finished_at = clock_timestamp()
    WHERE id = :run AND status IN ('pending', 'running')
      AND NOT EXISTS (SELECT 1 FROM step_runs WHERE run_id = :run
                      AND status IN ('pending', 'queued', 'running'))
    RETURNING status
    """
)


async def finish_run_if_done(session: AsyncSession, run_id: uuid.UUID) -> str | None:
    """Finish the run if no step is left to run; returns its final status."""
    if await session.scalar(_WAITING, {"run": run_id}):
        return None
    # Only running steps may remain, and some may be finishing right now: take
    # the run lock and count again, so the last of them to commit sees the rest.
    await session.execute(
        text("SELECT 1 FROM runs WHERE id = :run FOR UPDATE"), {"run": run_id}
    )
    status = await session.scalar(_FINISH_RUN, {"run": run_id})

    return None if status is None else str(status)


_FAIL_ATTEMPT = text(
    """
    UPDATE attempts SET status = :status, finished_at = clock_timestamp(),
           error_type = :etype, error_message = :message, traceback = :tb
    WHERE run_id = :run AND step_key = :key AND attempt = :attempt
      AND status IN ('queued', 'running')
    RETURNING attempt
    """
)

_STEP_FOR_FAILURE = text(
    """
    SELECT s.status, s.attempt, s.budget_start, s.max_attempts, s.retry_policy,
           r.status
    FROM step_runs s JOIN runs r ON r.id = s.run_id
    WHERE s.run_id = :run AND s.step_key = :key
    FOR UPDATE OF s
    """
)


@dataclass(frozen=True)
class FailureInfo:
    """An attempt's error as recorded."""

    error_type: str
    message: str
    traceback: str
    retryable: bool
    status: AttemptStatus = AttemptStatus.FAILED


@dataclass(frozen=True)
class FailureOutcome:
    """What recording a failure led to."""

    recorded: bool
    retry: QueuedAttempt | None = None
    run_status: str | None = None


async def record_failure(
    session: AsyncSession,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
    failure: FailureInfo,
    delay_s: float,
) -> FailureOutcome:
    """Record a failed (or lost) attempt, then queue the next one or fail the step.

    A retry is queued when the error is retryable and the step's current budget
    has attempts left; otherwise the step is ``failed``, its pending descendants
    ``upstream_failed``, and the run finished if nothing else is in flight.
    """
    row = (
        await session.execute(_STEP_FOR_FAILURE, {"run": run_id, "key": step_key})
    ).first()
    if row is None or row[1] != attempt or row[0] not in {"queued", "running"}:
        return FailureOutcome(recorded=False)
    _, _, budget_start, max_attempts, _, status_of_run = row
    params = {
        "run": run_id,
        "key": step_key,
        "attempt": attempt,
        "status": failure.status.value,
        "etype": failure.error_type,
        "message": failure.message,
        "tb": failure.traceback,
    }
    await session.execute(_FAIL_ATTEMPT, params)
    used = attempt - budget_start + 1
    if failure.retryable and used < max_attempts and status_of_run == "running":
        return FailureOutcome(
            recorded=True,
            retry=await _queue_retry(session, run_id, step_key, attempt + 1, delay_s),
        )
    await _fail_step(session, run_id, step_key, failure.message)

    return FailureOutcome(
        recorded=True, run_status=await finish_run_if_done(session, run_id)
    )


async def _queue_retry(
    session: AsyncSession,
    run_id: uuid.UUID,
    step_key: str,
    attempt: int,
    delay_s: float,
) -> QueuedAttempt:
    await session.execute(
        text(
            """
            UPDATE step_runs SET status = 'queued', attempt = :attempt,
                   queued_at = clock_timestamp(),
                   not_before = clock_timestamp() + make_interval(secs => :delay)
            WHERE run_id = :run AND step_key = :key
            """
        ),
        {"run": run_id, "key": step_key, "attempt": attempt, "delay": delay_s},
    )
    await session.execute(
        text(
            """
            INSERT INTO attempts (run_id, step_key, attempt, status, job_id,
                                  deliveries, queued_at)
            VALUES (:run, :key, :attempt, 'queued', :job, 0, clock_timestamp())
            """
        ),
        {
            "run": run_id,
            "key": step_key,
            "attempt": attempt,
            "job": job_id_for(run_id, step_key, attempt),
        },
    )

    return QueuedAttempt(run_id, step_key, attempt, defer_s=delay_s)


_DESCENDANTS = """
    WITH RECURSIVE d(step_key) AS (
        SELECT downstream FROM step_edges WHERE run_id = :run AND upstream = ANY(:keys)
        UNION
        SELECT e.downstream FROM step_edges e JOIN d ON e.upstream = d.step_key
        WHERE e.run_id = :run
    )
"""


async def _fail_step(
    session: AsyncSession, run_id: uuid.UUID, step_key: str, message: str
) -> None:
    await session.execute(
        text(
            """
            UPDATE step_runs SET status = 'failed', error = :message,
                   finished_at = clock_timestamp()
            WHERE run_id = :run AND step_key = :key
            """
        ),
        {"run": run_id, "key": step_key, "message": message},
    )
    await session.execute(
        text(
            _DESCENDANTS
            + """
            UPDATE step_runs SET status = 'upstream_failed',
                   finished_at = clock_timestamp()
            WHERE run_id = :run AND status = 'pending'
              AND step_key IN (SELECT step_key FROM d)
            """
        ).bindparams(bindparam("keys", type_=ARRAY(String))),
        {"run": run_id, "keys": [step_key]},
    )


async def descendants(
    session: AsyncSession, run_id: uuid.UUID, step_key: str
) -> list[str]:
    """Every step reachable from ``step_key`` along the run's edges."""
    rows = await session.execute(
        text(_DESCENDANTS + "SELECT step_key FROM d").bindparams(
            bindparam("keys", type_=ARRAY(String))
        ),
        {"run": run_id, "keys": [step_key]},
    )

    return [key for (key,) in rows]


def output_json(output: Any) -> Any:
    """Check that an output is JSON (and small) before it is stored."""
    raw = json.dumps(output)
    if len(raw) > 1_000_000:
        msg = (
            f"step output is {len(raw):,} bytes of JSON; outputs are limited to "
            "1,000,000 bytes: keep bulk data in domain tables and output ids or counts"
        )
        raise ValueError(msg)

    return output


async def cancel_attempt(
    session: AsyncSession, run_id: uuid.UUID, step_key: str, attempt: int
) -> None:
    """Mark an attempt and its step ``cancelled`` (its run was cancelled)."""
    params = {"run": run_id, "key": step_key, "attempt": attempt}
    await session.execute(
        text(
            """
            UPDATE attempts SET status = 'cancelled', finished_at = clock_timestamp()
            WHERE run_id = :run AND step_key = :key AND attempt = :attempt
              AND status IN ('queued', 'running')
            """
        ),
        params,
    )
    await session.execute(
        text(
            """
            UPDATE step_runs SET status = 'cancelled', finished_at = clock_timestamp()
            WHERE run_id = :run AND step_key = :key AND attempt = :attempt
              AND status IN ('queued', 'running')
            """
        ),
        params,
    )
