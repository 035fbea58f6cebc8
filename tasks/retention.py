"""Deleting and archiving old data: prune_run_history and archive_rules.

Both graphs refuse a logical time in the future (the engine checks it when the
run is triggered), and both measure their cut-offs back from the logical time T.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.webhooks import settings_of
from tasks.windows import window

logger = logging.getLogger(__name__)

ARCHIVE_AFTER_DAYS = 90
DEFAULT_RETENTION_DAYS = 400
FINISHED = ("succeeded", "failed", "cancelled")


def positive_days(params: Any, name: str, default: int) -> int:
    """A whole, positive number of days from a run parameter."""
    value = params.get(name, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        msg = (
            f"parameter {name!r} must be a positive whole number of days, got {value!r}"
        )
        raise ValueError(msg)

    return value


@task()
async def prune_runs(ctx: StepContext) -> dict[str, Any]:
    """Delete finished runs older than RUN_HISTORY_DAYS before T, steps and all.

    A run's age is taken from its ``finished_at`` (its ``created_at`` if it has
    none). Step runs cascade from runs, and attempts, edges and expansions from
    step runs. Runs in progress and this run itself are never deleted.
    """
    days = settings_of(ctx).run_history_days
    cutoff, _ = window(ctx.logical_time, days)
    result = await ctx.session.execute(
        text(
            """
            DELETE FROM runs
            WHERE status = ANY(:finished) AND id <> :own
              AND COALESCE(finished_at, created_at) < :cutoff
            """
        ),
        {"finished": list(FINISHED), "own": ctx.run_id, "cutoff": cutoff},
    )
    deleted = int(result.rowcount or 0)  # type: ignore[attr-defined]
    logger.info("%d finished runs pruned", deleted, extra={"event": "runs.pruned"})

    return {"cutoff": cutoff.isoformat(), "deleted_runs": deleted}


@task()
async def archive_deprecated_rules(ctx: StepContext) -> dict[str, Any]:
    """Archive rules deprecated 90 days or more before T, except under legal hold."""
    cutoff, _ = window(ctx.logical_time, ARCHIVE_AFTER_DAYS)
    rows = await ctx.session.execute(
        text(
            """
            UPDATE rules SET status = 'archived'
            WHERE status = 'deprecated' AND deprecated_at <= :cutoff
              AND NOT legal_hold
            RETURNING id
            """
        ),
        {"cutoff": cutoff},
    )
    archived = sorted(r for (r,) in rows)
    logger.info("%d rules archived", len(archived), extra={"event": "rules.archived"})

    return {
        "cutoff": cutoff.isoformat(),
        "archived": len(archived),
        "ids": archived[:100],
    }


@task()
async def purge_evaluations(ctx: StepContext) -> dict[str, Any]:
    """Delete evaluations (and their judgments) older than the retention period.

    Evaluations of rules under legal hold are kept, whatever their age.
    """
    days = positive_days(ctx.params, "retention_days", DEFAULT_RETENTION_DAYS)
    cutoff, _ = window(ctx.logical_time, days)
    held = "SELECT id FROM rules WHERE legal_hold"
    params: dict[str, Any] = {"cutoff": cutoff}
    judgments = await ctx.session.execute(
        text(
            f"""
            DELETE FROM judgments j USING evaluations e
            WHERE j.evaluation_id = e.id AND e.created_at < :cutoff
              AND e.rule_id NOT IN ({held})
            """
        ),
        params,
    )
    evaluations = await ctx.session.execute(
        text(
            f"""
            DELETE FROM evaluations
            WHERE created_at < :cutoff AND rule_id NOT IN ({held})
            """
        ),
        params,
    )
    counts = {
        "evaluations": int(evaluations.rowcount or 0),  # type: ignore[attr-defined]
        "judgments": int(judgments.rowcount or 0),  # type: ignore[attr-defined]
    }
    logger.info(
        "%d evaluations and %d judgments past retention deleted",
        counts["evaluations"],
        counts["judgments"],
        extra={"event": "evaluations.purged"},
    )

    return {"cutoff": cutoff.isoformat(), "retention_days": days, **counts}
