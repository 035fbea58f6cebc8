"""compute_correction_stats: corrections per analysis type and status, per hour.

The hour ending at the logical time T is ``[T - 1 h, T)``; its figures are
stored under ``bucket_start = T - 1 h``. A re-run replaces the bucket (delete,
then insert, in the step's transaction), so an hour always holds the counts of
its latest run, zero-count pairs omitted.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task

logger = logging.getLogger(__name__)

BUCKET = timedelta(hours=1)


def hour_before(t: datetime) -> tuple[datetime, datetime]:
    """The hour ending at ``t``: ``(t - 1 h, t)``, start included."""
    return t - BUCKET, t


@task()
async def count_corrections(ctx: StepContext) -> dict[str, Any]:
    """Store the counts of the hour ending at T, replacing earlier ones."""
    start, end = hour_before(ctx.logical_time)
    await ctx.session.execute(
        text("DELETE FROM correction_stats WHERE bucket_start = :start"),
        {"start": start},
    )
    rows = await ctx.session.execute(
        text(
            """
            INSERT INTO correction_stats (bucket_start, analysis_type, status, count)
            SELECT :start, analysis_type, status, count(*)
            FROM corrections
            WHERE created_at >= :start AND created_at < :end
            GROUP BY analysis_type, status
            RETURNING count
            """
        ),
        {"start": start, "end": end},
    )
    counts = [int(c) for (c,) in rows]
    logger.info(
        "%d corrections in the hour",
        sum(counts),
        extra={"event": "correction_stats.counted"},
    )

    return {
        "bucket_start": start.isoformat(),
        "corrections": sum(counts),
        "pairs": len(counts),
    }
