"""The periodic sweep: repairs what a crash or a Redis restart leaves behind.

It finds, in order:

1. attempts ``running`` whose worker stopped heart-beating (or that outlived
   their timeout plus the grace period): recorded as ``lost``, which counts as an
   attempt, and retried or failed under the step's policy. A step whose row is
   locked is skipped: the lock is held by a live attempt's transaction, and
   PostgreSQL drops it the moment that worker's connection dies;
2. attempts ``queued`` whose arq job no longer exists in Redis: enqueued again
   under the same job id;
3. steps ``pending`` whose predecessors have all succeeded (a crash between a
   commit and the enqueue): queued;
4. runs with nothing left to run that were never finished;
5. aborts in arq's abort set older than a minute (for jobs that had ended).

Only one worker sweeps at a time (a transaction-level advisory lock).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from arq.connections import ArqRedis
from arq.constants import (
    abort_jobs_ss,
    in_progress_key_prefix,
    job_key_prefix,
    retry_key_prefix,
)
from arq.utils import timestamp_ms
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator import state
from orchestrator.db import transaction
from orchestrator.executor import enqueue_attempts
from orchestrator.graph import backoff_delay
from orchestrator.states import AttemptStatus

logger = logging.getLogger(__name__)

SWEEP_LOCK = 0x5EE9  # advisory lock key shared by every worker
ABORT_TTL_MS = 60_000


@dataclass
class SweepReport:
    """What one sweep repaired."""

    lost: int = 0
    requeued: int = 0
    readied: int = 0
    finished_runs: int = 0

    def __bool__(self) -> bool:
        return bool(self.lost or self.requeued or self.readied or self.finished_runs)


_LOST = text(
    """
    SELECT a.run_id, a.step_key, a.attempt, a.job_id, s.retry_policy
    FROM attempts a
    JOIN step_runs s ON s.run_id = a.run_id AND s.step_key = a.step_key
    WHERE a.status = 'running' AND s.attempt = a.attempt
      AND (coalesce(a.heartbeat_at, a.started_at) < clock_timestamp() - CAST(:grace AS interval)
           OR a.started_at < clock_timestamp() - CAST(:grace AS interval)
                             - make_interval(secs => s.timeout_s))
    ORDER BY a.started_at
    LIMIT 500
    FOR UPDATE OF s SKIP LOCKED
    """
)

# Driven by the step rows (the partial index of active steps), each joined to its
# run by primary key: a new run has no planner statistics, and joining the
# attempts table by run alone made this quadratic in the run's width. A queued
# step's current attempt is queued too (every transition moves both together).
_STALE_QUEUED = text(
    """
    SELECT s.run_id, s.step_key, s.attempt,
           greatest(0, extract(epoch FROM s.not_before - clock_timestamp())),
           s.queued_at < clock_timestamp() - CAST(:grace AS interval)
                         - CAST(:settle AS interval)
                         - make_interval(secs => greatest(0, extract(epoch FROM
                               s.not_before - s.queued_at)))
    FROM step_runs s
    JOIN runs r ON r.id = s.run_id
    WHERE s.status = 'queued' AND r.status IN ('pending', 'running')
      AND s.queued_at < clock_timestamp() - CAST(:settle AS interval)
    ORDER BY s.queued_at
    LIMIT 5000
    """
)

# Each pending step's predecessors are read by primary key in a scalar subquery
# (see migration 0007): joined, a run without planner statistics made this a
# scan of the run's edges and steps for every pending step.
_READY_PENDING = text(
    """
    SELECT s.run_id, array_agg(s.step_key) FROM step_runs s
    JOIN runs r ON r.id = s.run_id
    WHERE s.status = 'pending' AND r.status = 'running'
      AND NOT EXISTS (
          SELECT 1 FROM step_edges e
          WHERE e.downstream = s.step_key AND e.run_id = s.run_id
            AND (SELECT p.status FROM step_runs p
                 WHERE p.run_id = e.run_id AND p.step_key = e.upstream)
                <> 'succeeded')
    GROUP BY s.run_id
    LIMIT 100
    """
)

_UNFINISHED_RUNS = text(
    """
    SELECT r.id FROM runs r
    WHERE r.status IN ('pending', 'running')
      AND NOT EXISTS (SELECT 1 FROM step_runs s WHERE s.run_id = r.id
                      AND s.status IN ('pending', 'queued', 'running'))
    LIMIT 100
    """
)


async def sweep(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    queue_name: str,
    *,
    grace: timedelta,
    settle: timedelta = timedelta(seconds=5),
) -> SweepReport:
    """Run one sweep if no other worker is sweeping; returns what it repaired."""
    report = SweepReport()
    to_enqueue: list[state.QueuedAttempt] = []
    async with transaction(sessions) as session:
        got = await session.scalar(
            text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SWEEP_LOCK}
        )
        if not got:
            return report
        to_enqueue += await _recover_lost(session, redis, queue_name, grace, report)
        to_enqueue += await _ready_pending(session, report)
        await _finish_stranded_runs(session, report)
    stale = await _stale_queued(sessions, redis, settle, grace)
    report.requeued = len(stale)
    await enqueue_attempts(redis, queue_name, to_enqueue + stale)
    # An abort asked for a job that had already ended stays in arq's abort set
    # (arq's own prune only drops entries dated in the future); a running job
    # sees its abort within one poll, so a minute-old entry is spent.
    await redis.zremrangebyscore(abort_jobs_ss, "-inf", timestamp_ms() - ABORT_TTL_MS)
    if report:
        logger.info(
            "sweep repaired %d lost, %d requeued, %d readied, %d runs finished",
            report.lost,
            report.requeued,
            report.readied,
            report.finished_runs,
            extra={"event": "sweep.repaired"},
        )

    return report


async def _recover_lost(
    session: AsyncSession,
    redis: ArqRedis,
    queue_name: str,
    grace: timedelta,
    report: SweepReport,
) -> list[state.QueuedAttempt]:
    rows = (await session.execute(_LOST, {"grace": grace})).all()
    if not rows:
        return []
    # The superseded jobs must not linger: arq would deliver them again when
    # their locks expire (a no-op, but it keeps a burst worker waiting).
    await redis.zrem(queue_name, *(row[3] for row in rows))
    retries: list[state.QueuedAttempt] = []
    for run_id, step_key, attempt, _job_id, policy in rows:
        info = state.FailureInfo(
            error_type="WorkerLost",
            message=(
                f"the worker running attempt {attempt} stopped heart-beating for "
                f"more than {grace.total_seconds():g}s (it died or hung)"
            ),
            traceback="",
            retryable=True,
            status=AttemptStatus.LOST,
        )
        delay = backoff_delay(policy, attempt, None)
        outcome = await state.record_failure(
            session, run_id, step_key, attempt, info, delay
        )
        report.lost += int(outcome.recorded)
        if outcome.retry is not None:
            retries.append(outcome.retry)

    return retries


async def _ready_pending(
    session: AsyncSession, report: SweepReport
) -> list[state.QueuedAttempt]:
    queued: list[state.QueuedAttempt] = []
    for run_id, keys in (await session.execute(_READY_PENDING)).all():
        queued += await state.queue_ready(session, run_id, list(keys))
    report.readied = len(queued)

    return queued


async def _finish_stranded_runs(session: AsyncSession, report: SweepReport) -> None:
    for (run_id,) in (await session.execute(_UNFINISHED_RUNS)).all():
        if await state.finish_run_if_done(session, run_id) is not None:
            report.finished_runs += 1


async def _stale_queued(
    sessions: async_sessionmaker[AsyncSession],
    redis: ArqRedis,
    settle: timedelta,
    grace: timedelta,
) -> list[state.QueuedAttempt]:
    """Queued attempts to hand to arq again.

    Either arq no longer knows the job (Redis lost it), or a worker took the job
    (arq's in-progress lock exists) but died before the attempt was claimed in
    the database: arq would hold that lock for the longest task timeout, so after
    the grace period the lock is cleared and the same attempt enqueued again.
    """
    async with transaction(sessions) as session:
        rows = (
            await session.execute(_STALE_QUEUED, {"settle": settle, "grace": grace})
        ).all()
    if not rows:
        return []
    candidates = [
        (state.QueuedAttempt(uuid.UUID(str(run_id)), key, n, float(defer)), overdue)
        for run_id, key, n, defer, overdue in rows
    ]
    async with redis.pipeline(transaction=False) as pipe:
        for item, _ in candidates:
            pipe.exists(job_key_prefix + item.job_id)
            pipe.exists(in_progress_key_prefix + item.job_id)
        found = await pipe.execute()
    again: list[state.QueuedAttempt] = []
    orphans: list[str] = []
    for index, (item, overdue) in enumerate(candidates):
        has_job, in_progress = found[2 * index], found[2 * index + 1]
        if in_progress and not overdue:
            continue
        if has_job and not in_progress:
            continue
        if in_progress:
            orphans.append(item.job_id)
        again.append(item)
    if orphans:
        await _clear_orphans(redis, orphans)

    return again


async def _clear_orphans(redis: ArqRedis, job_ids: list[str]) -> None:
    """Forget arq jobs whose worker died between taking them and claiming them."""
    async with redis.pipeline(transaction=True) as pipe:
        for job_id in job_ids:
            pipe.delete(
                in_progress_key_prefix + job_id,
                job_key_prefix + job_id,
                retry_key_prefix + job_id,
            )
        await pipe.execute()
    logger.warning(
        "cleared %d arq jobs taken by a worker that died before running them",
        len(job_ids),
        extra={"event": "sweep.orphans_cleared"},
    )
