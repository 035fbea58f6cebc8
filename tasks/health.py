"""compute_health_scores: six health dimensions per active rule, then alerts.

Two tasks. :func:`score_rules` computes every active rule's dimensions at the
logical time T in one set-based statement (a few ``GROUP BY`` scans of
evaluations, judgments and translations, never one query per rule) and upserts
them into ``health_scores`` keyed by (rule, T). :func:`alert_on_health` reads
those rows back and raises or resolves ``unhealthy``, ``dormant`` and
``effectiveness_decline``.

Each dimension and the overall score are rounded to 6 decimal places, so that
the stored figures, the ones shown and the ones the alerts compare are the same
(an overall of 40 is 40, not 39.99999999999999).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.metrics import effectiveness_sql, judgment_counts, share_below
from tasks.reviews import review_due_sql
from tasks.windows import window

logger = logging.getLogger(__name__)

ACTIVITY_DAYS = 30
ACCURACY_DAYS = 90
STABILITY_RECENT_DAYS = 7
STABILITY_BASELINE_DAYS = 30
STABILITY_MIN_EVALUATIONS = 5

UNHEALTHY_BELOW = 40.0
EFFECTIVENESS_DECLINE_BELOW = 30
EFFECTIVENESS_MIN_JUDGMENTS = 10

DIMENSIONS = (
    "activity",
    "accuracy",
    "effectiveness",
    "freshness",
    "stability",
    "coverage",
)

_SCORE = f"""
WITH active AS (
    SELECT r.id, r.locale, r.version, r.review_interval_days, r.required_locales,
           {review_due_sql("r")} AS due_at
    FROM rules r
    WHERE r.status = 'active' AND r.created_at <= :t
),
ev AS (
    SELECT rule_id,
           count(*) FILTER (WHERE created_at >= :since_activity) AS n30,
           count(*) FILTER (WHERE created_at >= :since_recent) AS n7,
           count(*) FILTER (WHERE created_at >= :since_recent
                              AND verdict = 'deny') AS deny7,
           count(*) FILTER (WHERE created_at < :since_recent) AS nbase,
           count(*) FILTER (WHERE created_at < :since_recent
                              AND verdict = 'deny') AS denybase
    FROM evaluations
    WHERE created_at >= :since_baseline AND created_at < :t
    GROUP BY rule_id
),
jd AS ({judgment_counts("t", "since_accuracy")}),
cov AS (
    SELECT a.id AS rule_id, count(*) AS required,
           count(*) FILTER (WHERE tr.source_version = a.version) AS up_to_date
    FROM active a
    CROSS JOIN LATERAL (
        SELECT DISTINCT l FROM unnest(a.required_locales) AS l WHERE l <> a.locale
    ) AS req(locale)
    LEFT JOIN translations tr ON tr.rule_id = a.id AND tr.locale = req.locale
    GROUP BY a.id
),
raw AS (
    SELECT a.id AS rule_id, a.due_at, a.review_interval_days,
           COALESCE(ev.n30, 0) AS n30, COALESCE(ev.n7, 0) AS n7,
           COALESCE(ev.deny7, 0) AS deny7, COALESCE(ev.nbase, 0) AS nbase,
           COALESCE(ev.denybase, 0) AS denybase,
           COALESCE(jd.judgments, 0) AS judgments,
           COALESCE(jd.false_positives, 0) AS false_positives,
           COALESCE(jd.correct, 0) AS correct,
           COALESCE(cov.required, 0) AS required,
           COALESCE(cov.up_to_date, 0) AS up_to_date,
           {effectiveness_sql("jd")} AS effectiveness,
           extract(epoch FROM (CAST(:t AS timestamptz) - a.due_at)) / 86400.0
               AS days_past_due
    FROM active a
    LEFT JOIN ev ON ev.rule_id = a.id
    LEFT JOIN jd ON jd.rule_id = a.id
    LEFT JOIN cov ON cov.rule_id = a.id
),
dims AS (
    SELECT raw.*,
        round(100 * least(1, log(1 + n30::numeric) / 2), 6) AS activity,
        round(CASE WHEN judgments = 0 THEN 50
                   ELSE 100.0 * (judgments - false_positives) / judgments END, 6)
            AS accuracy,
        round(effectiveness::numeric, 6) AS effectiveness_score,
        round(CASE WHEN days_past_due <= 0 THEN 100
                   WHEN review_interval_days <= 0 THEN 0
                   ELSE greatest(0, 100 * (1 - days_past_due / review_interval_days))
              END, 6) AS freshness,
        round(CASE WHEN n7 < :min_stability OR nbase < :min_stability THEN 100
                   ELSE 100 * (1 - abs(deny7::numeric / n7 - denybase::numeric / nbase))
              END, 6) AS stability,
        round(CASE WHEN required = 0 THEN 100
                   ELSE 100.0 * up_to_date / required END, 6) AS coverage
    FROM raw
)
INSERT INTO health_scores (rule_id, logical_time, activity, accuracy, effectiveness,
                           freshness, stability, coverage, overall, figures)
SELECT rule_id, :t, activity, accuracy, effectiveness_score, freshness, stability,
       coverage,
       round((activity + accuracy + effectiveness_score + freshness + stability
              + coverage) / 6, 6),
       jsonb_build_object(
           'evaluations_30d', n30,
           'evaluations_7d', n7, 'denies_7d', deny7,
           'evaluations_baseline', nbase, 'denies_baseline', denybase,
           'judgments_90d', judgments, 'false_positives_90d', false_positives,
           'correct_90d', correct,
           'review_due_at',
               to_char(due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
           'review_interval_days', review_interval_days,
           'locales_required', required, 'translations_up_to_date', up_to_date)
FROM dims
ON CONFLICT (rule_id, logical_time) DO UPDATE SET
    activity = EXCLUDED.activity, accuracy = EXCLUDED.accuracy,
    effectiveness = EXCLUDED.effectiveness, freshness = EXCLUDED.freshness,
    stability = EXCLUDED.stability, coverage = EXCLUDED.coverage,
    overall = EXCLUDED.overall, figures = EXCLUDED.figures
"""

# Rows at T for rules that are no longer scored (no longer active), so that a
# re-run replaces T's scores exactly.
_DROP_UNSCORED = """
DELETE FROM health_scores h
WHERE h.logical_time = :t
  AND NOT EXISTS (SELECT 1 FROM rules r WHERE r.id = h.rule_id
                  AND r.status = 'active' AND r.created_at <= :t)
"""


def score_params(t: datetime) -> dict[str, Any]:
    """Bind parameters of the scoring statement for logical time ``t``."""
    since_recent, _ = window(t, STABILITY_RECENT_DAYS)

    return {
        "t": t,
        "since_activity": window(t, ACTIVITY_DAYS)[0],
        "since_accuracy": window(t, ACCURACY_DAYS)[0],
        "since_recent": since_recent,
        "since_baseline": window(since_recent, STABILITY_BASELINE_DAYS)[0],
        "min_stability": STABILITY_MIN_EVALUATIONS,
    }


@task()
async def score_rules(ctx: StepContext) -> dict[str, Any]:
    """Compute and store the six dimensions and the overall score of every rule."""
    params = score_params(ctx.logical_time)
    await ctx.session.execute(text(_DROP_UNSCORED), {"t": ctx.logical_time})
    scored = await ctx.session.execute(text(_SCORE), params)
    count = int(scored.rowcount or 0)  # type: ignore[attr-defined]
    mean = await ctx.session.scalar(
        text("SELECT avg(overall) FROM health_scores WHERE logical_time = :t"),
        {"t": ctx.logical_time},
    )
    logger.info("%d rules scored", count, extra={"event": "health.scored"})

    return {"rules": count, "mean_overall": None if mean is None else round(mean, 2)}


def is_unhealthy(overall: float) -> bool:
    """``unhealthy``: an overall score below 40."""
    return overall < UNHEALTHY_BELOW


def is_dormant(evaluations_30d: int) -> bool:
    """``dormant``: no evaluation in the 30 days before T."""
    return evaluations_30d == 0


def effectiveness_declined(correct: int, judgments: int) -> bool:
    """``effectiveness_decline``: below 30 with 10 or more judgments in 90 days."""
    return judgments >= EFFECTIVENESS_MIN_JUDGMENTS and share_below(
        correct, judgments, EFFECTIVENESS_DECLINE_BELOW
    )


def health_findings(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Finding]]:
    """The rules in each health alert's condition, from stored scores."""
    found: dict[str, list[Finding]] = {
        "unhealthy": [],
        "dormant": [],
        "effectiveness_decline": [],
    }
    for row in rows:
        figures = row["figures"]
        if is_unhealthy(row["overall"]):
            scores = {d: row[d] for d in DIMENSIONS}
            details = {"overall": row["overall"], **scores}
            found["unhealthy"].append(Finding(row["rule_id"], details))
        if is_dormant(figures["evaluations_30d"]):
            found["dormant"].append(Finding(row["rule_id"], {"evaluations_30d": 0}))
        if effectiveness_declined(figures["correct_90d"], figures["judgments_90d"]):
            details = {
                "effectiveness": row["effectiveness"],
                "judgments_90d": figures["judgments_90d"],
                "correct_90d": figures["correct_90d"],
            }
            found["effectiveness_decline"].append(Finding(row["rule_id"], details))

    return found


SEVERITY = {
    "unhealthy": "warning",
    "dormant": "info",
    "effectiveness_decline": "warning",
}


@task()
async def alert_on_health(ctx: StepContext) -> dict[str, Any]:
    """Raise unhealthy, dormant and effectiveness_decline; resolve the cleared."""
    rows = await ctx.session.execute(
        text(
            f"""
            SELECT rule_id, overall, {", ".join(DIMENSIONS)}, figures
            FROM health_scores WHERE logical_time = :t ORDER BY rule_id
            """
        ),
        {"t": ctx.logical_time},
    )
    found = health_findings([dict(r._mapping) for r in rows])
    output: dict[str, Any] = {}
    for kind, findings in found.items():
        synced = await sync_alerts(
            ctx.session,
            kind=kind,
            severity=SEVERITY[kind],
            findings=findings,
            at=ctx.logical_time,
        )
        output[kind] = {"affected": len(findings), **synced.to_json()}

    return output
