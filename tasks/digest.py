"""send_weekly_digest: the week before T, summed up, stored, then delivered.

Five section tasks read the database independently (compliance trend, top
violations, most effective rules, declining rules, pending actions); their
small outputs meet in :func:`store_digest`, which writes the digest (JSON and
Markdown) keyed by T; :func:`deliver_digest` then posts it to
``DIGEST_WEBHOOK_URL``. Every attempt of one week's delivery carries the same
``Idempotency-Key`` (derived from T and stored with the digest), and a digest
whose delivery is recorded is never posted, nor rewritten, again.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.sql import bindparam

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.digest_render import render_markdown
from tasks.metrics import deny_share, judgment_counts
from tasks.reviews import review_due_sql
from tasks.webhooks import post_json, settings_of
from tasks.windows import DAY, window

logger = logging.getLogger(__name__)

WEEK_DAYS = 7
EFFECTIVENESS_DAYS = 90
EFFECTIVE_MIN_JUDGMENTS = 10
TOP = 10
SECTIONS = ("trend", "violations", "effective", "declining", "pending")


def idempotency_key(t: datetime) -> str:
    """The delivery key of the digest for logical time ``t`` (UTC, to the minute)."""
    return "digest-" + t.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def _share(denies: int, evaluations: int) -> dict[str, Any]:
    share = deny_share(denies, evaluations)

    return {
        "evaluations": evaluations,
        "denies": denies,
        "deny_share": None if share is None else round(share, 6),
    }


@task()
async def digest_trend(ctx: StepContext) -> dict[str, Any]:
    """Deny share per day of the week before T, and the week against the one before."""
    t = ctx.logical_time
    since, _ = window(t, 2 * WEEK_DAYS)
    rows = await ctx.session.execute(
        text(
            """
            SELECT floor(extract(epoch FROM created_at - CAST(:since AS timestamptz))
                         / 86400)::int AS day, count(*) AS evaluations,
                   count(*) FILTER (WHERE verdict = 'deny') AS denies
            FROM evaluations WHERE created_at >= :since AND created_at < :t
            GROUP BY 1
            """
        ),
        {"since": since, "t": t},
    )
    per_day = {r.day: (r.denies, r.evaluations) for r in rows}
    days = [
        {"day_start": (since + i * DAY).isoformat(), **_share(*per_day.get(i, (0, 0)))}
        for i in range(WEEK_DAYS, 2 * WEEK_DAYS)
    ]
    week = _share(*_sum(per_day, range(WEEK_DAYS, 2 * WEEK_DAYS)))
    previous = _share(*_sum(per_day, range(WEEK_DAYS)))
    change = None
    if week["deny_share"] is not None and previous["deny_share"] is not None:
        change = round(week["deny_share"] - previous["deny_share"], 6)

    return {"days": days, "week": week, "previous_week": previous, "change": change}


def _sum(per_day: dict[int, tuple[int, int]], days: range) -> tuple[int, int]:
    pairs = [per_day.get(i, (0, 0)) for i in days]

    return sum(d for d, _ in pairs), sum(n for _, n in pairs)


@task()
async def digest_violations(ctx: StepContext) -> dict[str, Any]:
    """The rules with the most deny verdicts in the week before T."""
    since, t = window(ctx.logical_time, WEEK_DAYS)
    rows = await ctx.session.execute(
        text(
            """
            SELECT e.rule_id, r.title, count(*) AS denies
            FROM evaluations e JOIN rules r ON r.id = e.rule_id
            WHERE e.verdict = 'deny' AND e.created_at >= :since AND e.created_at < :t
            GROUP BY e.rule_id, r.title
            ORDER BY denies DESC, e.rule_id LIMIT :top
            """
        ),
        {"since": since, "t": t, "top": TOP},
    )

    return {"rules": [dict(r._mapping) for r in rows]}


@task()
async def digest_effective(ctx: StepContext) -> dict[str, Any]:
    """The active rules with the highest effectiveness and 10 or more judgments.

    Effectiveness is the one health uses: over the 90 days before T.
    """
    since, t = window(ctx.logical_time, EFFECTIVENESS_DAYS)
    rows = await ctx.session.execute(
        text(
            f"""
            SELECT j.rule_id, r.title, j.judgments, j.correct,
                   round(100.0 * j.correct / j.judgments, 2)::float8 AS effectiveness
            FROM ({judgment_counts("t", "since")}) j
            JOIN rules r ON r.id = j.rule_id AND r.status = 'active'
            WHERE j.judgments >= :min_judgments
            ORDER BY j.correct::float8 / j.judgments DESC, j.judgments DESC, j.rule_id
            LIMIT :top
            """
        ),
        {"since": since, "t": t, "min_judgments": EFFECTIVE_MIN_JUDGMENTS, "top": TOP},
    )

    return {
        "window_days": EFFECTIVENESS_DAYS,
        "rules": [dict(r._mapping) for r in rows],
    }


@task()
async def digest_declining(ctx: StepContext) -> dict[str, Any]:
    """The largest drops in overall health: this week's latest against last week's.

    "Now" is a rule's latest score in ``(T - 7 d, T]``, "then" its latest in
    ``(T - 14 d, T - 7 d]``; rules without both are left out.
    """
    t = ctx.logical_time
    week_start, _ = window(t, WEEK_DAYS)
    before, _ = window(t, 2 * WEEK_DAYS)
    rows = await ctx.session.execute(
        text(
            """
            WITH recent AS (
                SELECT DISTINCT ON (rule_id) rule_id, overall FROM health_scores
                WHERE logical_time > :week_start AND logical_time <= :t
                ORDER BY rule_id, logical_time DESC),
            earlier AS (
                SELECT DISTINCT ON (rule_id) rule_id, overall FROM health_scores
                WHERE logical_time > :before AND logical_time <= :week_start
                ORDER BY rule_id, logical_time DESC)
            SELECT recent.rule_id, r.title, earlier.overall AS was,
                   recent.overall AS now,
                   round(CAST(earlier.overall - recent.overall AS numeric), 6)::float8
                       AS drop
            FROM recent JOIN earlier USING (rule_id)
            JOIN rules r ON r.id = recent.rule_id
            WHERE earlier.overall > recent.overall
            ORDER BY drop DESC, recent.rule_id LIMIT :top
            """
        ),
        {"t": t, "week_start": week_start, "before": before, "top": TOP},
    )

    return {"rules": [dict(r._mapping) for r in rows]}


@task()
async def digest_pending(ctx: StepContext) -> dict[str, Any]:
    """Pending proposals, open alerts by severity, and active rules due for review."""
    session, t = ctx.session, ctx.logical_time
    proposals = await session.scalar(
        text("SELECT count(*) FROM proposals WHERE status = 'pending'")
    )
    alerts = await session.execute(
        text(
            "SELECT severity, count(*) FROM alerts WHERE status = 'open'"
            " GROUP BY severity"
        )
    )
    by_severity = {"critical": 0, "warning": 0, "info": 0} | {s: n for s, n in alerts}
    due = await session.scalar(
        text(
            f"""
            SELECT count(*) FROM rules r
            WHERE r.status = 'active' AND r.created_at <= :t
              AND {review_due_sql("r")} <= :t
            """
        ),
        {"t": t},
    )

    return {
        "pending_proposals": int(proposals or 0),
        "open_alerts": {k: int(v) for k, v in by_severity.items()},
        "reviews_due": int(due or 0),
    }


_STORE = text(
    """
    INSERT INTO digests (logical_time, content, markdown, idempotency_key,
                         delivery_attempts)
    VALUES (:t, :content, :markdown, :key, 0)
    ON CONFLICT (logical_time) DO UPDATE
    SET content = EXCLUDED.content, markdown = EXCLUDED.markdown,
        idempotency_key = EXCLUDED.idempotency_key
    WHERE digests.delivered_at IS NULL
    """
).bindparams(bindparam("content", type_=JSONB))


@task()
async def store_digest(ctx: StepContext) -> dict[str, Any]:
    """Store the digest of T as JSON and Markdown (a delivered one stays as sent)."""
    t = ctx.logical_time
    since, _ = window(t, WEEK_DAYS)
    content = {
        "week_start": since.isoformat(),
        "week_end": t.isoformat(),
        **{section: ctx.inputs[section] for section in SECTIONS},
    }
    key = idempotency_key(t)
    await ctx.session.execute(
        _STORE,
        {"t": t, "content": content, "markdown": render_markdown(content), "key": key},
    )

    return {"idempotency_key": key}


@task()
async def deliver_digest(ctx: StepContext) -> dict[str, Any]:
    """POST the digest of T to DIGEST_WEBHOOK_URL once; nothing when it is unset."""
    url = settings_of(ctx).digest_webhook_url
    if not url:
        return {"delivered": False, "skipped": "DIGEST_WEBHOOK_URL is not set"}
    row = (
        await ctx.session.execute(
            text(
                "SELECT content, markdown, idempotency_key, delivered_at FROM digests"
                " WHERE logical_time = :t FOR UPDATE"
            ),
            {"t": ctx.logical_time},
        )
    ).one()
    if row.delivered_at is not None:
        return {"delivered": True, "sent": False}
    payload = {**row.content, "markdown": row.markdown}
    delivery = await post_json(url, payload, idempotency_key=row.idempotency_key)
    await ctx.session.execute(
        text(
            "UPDATE digests SET delivered_at = :t,"
            " delivery_attempts = delivery_attempts + :attempts"
            " WHERE logical_time = :t"
        ),
        {"t": ctx.logical_time, "attempts": delivery.attempts},
    )
    logger.info(
        "digest delivered after %d attempts",
        delivery.attempts,
        extra={"event": "digest.delivered"},
    )

    return {"delivered": True, "sent": True, "attempts": delivery.attempts}
