"""generate_recommendations: what each active rule's usage suggests changing.

:func:`recommend` replaces the recommendations of the logical time T (delete
that T's rows, then insert, in the step's one transaction), so a re-run writes
exactly what one run writes. Kinds (DESIGN §4):

- ``high_deny_rate``: more than 50% of the rule's evaluations in the 30 days
  before T are ``deny`` (also a ``high_deny_rate`` alert, warning);
- ``high_false_positive_rate``: false-positive rate above 10%, over every
  judgment before T (the rate has no window);
- ``never_fires``: 50 or more evaluations in the window, none ``deny``;
- ``stale_translation``: one per translation whose ``source_version`` is not the
  rule's ``version``; its subject is ``rule|locale``.

:func:`alert_high_deny_rate` then raises and resolves the alerts from the stored
``high_deny_rate`` rows.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.alerts import alert_subject
from tasks.metrics import judgment_counts, share_above, verdict_counts
from tasks.windows import window

logger = logging.getLogger(__name__)

WINDOW_DAYS = 30
HIGH_DENY_PERCENT = 50
HIGH_FALSE_POSITIVE_PERCENT = 10
NEVER_FIRES_MIN_EVALUATIONS = 50

HIGH_DENY_RATE = "high_deny_rate"
HIGH_FALSE_POSITIVE_RATE = "high_false_positive_rate"
NEVER_FIRES = "never_fires"
STALE_TRANSLATION = "stale_translation"


@dataclass(frozen=True)
class RuleUsage:
    """One rule's counts: evaluations in the window, judgments before T."""

    rule_id: str
    evaluations: int
    denies: int
    judgments: int
    false_positives: int


@dataclass(frozen=True)
class Advice:
    """One recommendation before it is stored."""

    kind: str
    rule_id: str
    rationale: str
    figures: dict[str, Any] = field(default_factory=dict)
    locale: str | None = None

    @property
    def subject(self) -> str:
        """The recommendation subject: the rule, or ``rule|locale``."""
        return alert_subject(self.rule_id, self.locale)


def _percent(count: int, total: int) -> float:
    return round(100.0 * count / total, 2) if total else 0.0


def usage_advice(usage: RuleUsage) -> list[Advice]:
    """The usage recommendations one rule gets (zero to three)."""
    advice: list[Advice] = []
    n, denies = usage.evaluations, usage.denies
    if share_above(denies, n, HIGH_DENY_PERCENT):
        advice.append(
            Advice(
                HIGH_DENY_RATE,
                usage.rule_id,
                f"{denies} of {n} evaluations in the {WINDOW_DAYS} days before T "
                f"were deny ({_percent(denies, n)}%, above {HIGH_DENY_PERCENT}%): "
                "check whether the rule is broader than intended",
                {"evaluations": n, "denies": denies, "deny_share": denies / n},
            )
        )
    fp, judged = usage.false_positives, usage.judgments
    if share_above(fp, judged, HIGH_FALSE_POSITIVE_PERCENT):
        advice.append(
            Advice(
                HIGH_FALSE_POSITIVE_RATE,
                usage.rule_id,
                f"{fp} of {judged} judgments before T were false positives "
                f"({_percent(fp, judged)}%, above {HIGH_FALSE_POSITIVE_PERCENT}%): "
                "narrow the rule or its pattern",
                {"judgments": judged, "false_positives": fp, "fp_rate": fp / judged},
            )
        )
    if n >= NEVER_FIRES_MIN_EVALUATIONS and denies == 0:
        advice.append(
            Advice(
                NEVER_FIRES,
                usage.rule_id,
                f"{n} evaluations in the {WINDOW_DAYS} days before T and none "
                "denied: the rule may be redundant or its condition unreachable",
                {"evaluations": n, "denies": 0},
            )
        )

    return advice


def stale_translation_advice(
    rule_id: str, locale: str, source_version: int, version: int
) -> Advice:
    """The recommendation for one out-of-date translation."""
    return Advice(
        STALE_TRANSLATION,
        rule_id,
        f"the {locale} translation was made from version {source_version} but the "
        f"rule is at version {version}: update the translation",
        {"source_version": source_version, "version": version},
        locale=locale,
    )


async def _usage(session: AsyncSession, t: datetime) -> list[RuleUsage]:
    rows = await session.execute(
        text(
            f"""
            SELECT r.id,
                   COALESCE(v.evaluations, 0) AS evaluations,
                   COALESCE(v.denies, 0) AS denies,
                   COALESCE(j.judgments, 0) AS judgments,
                   COALESCE(j.false_positives, 0) AS false_positives
            FROM rules r
            LEFT JOIN ({verdict_counts("t", "since")}) v ON v.rule_id = r.id
            LEFT JOIN ({judgment_counts("t")}) j ON j.rule_id = r.id
            WHERE r.status = 'active' AND r.created_at <= :t
            ORDER BY r.id
            """
        ),
        {"t": t, "since": window(t, WINDOW_DAYS)[0]},
    )

    return [RuleUsage(*row) for row in rows]


async def _stale_translations(session: AsyncSession, t: datetime) -> list[Advice]:
    rows = await session.execute(
        text(
            """
            SELECT tr.rule_id, tr.locale, tr.source_version, r.version
            FROM translations tr JOIN rules r ON r.id = tr.rule_id
            WHERE r.status = 'active' AND r.created_at <= :t
              AND tr.source_version <> r.version
            ORDER BY tr.rule_id, tr.locale
            """
        ),
        {"t": t},
    )

    return [stale_translation_advice(*row) for row in rows]


_INSERT = text(
    """
    INSERT INTO recommendations (kind, subject, logical_time, rule_id, rationale,
                                 figures)
    SELECT a.kind, a.subject, :t, a.rule_id, a.rationale, CAST(a.figures AS jsonb)
    FROM unnest(CAST(:kinds AS text[]), CAST(:subjects AS text[]),
                CAST(:rule_ids AS text[]), CAST(:rationales AS text[]),
                CAST(:figures AS text[])) AS a(kind, subject, rule_id, rationale,
                                                figures)
    """
)


async def store_advice(
    session: AsyncSession, t: datetime, advice: list[Advice]
) -> None:
    """Replace the recommendations of logical time ``t`` with ``advice``."""
    await session.execute(
        text("DELETE FROM recommendations WHERE logical_time = :t"), {"t": t}
    )
    await session.execute(
        _INSERT,
        {
            "t": t,
            "kinds": [a.kind for a in advice],
            "subjects": [a.subject for a in advice],
            "rule_ids": [a.rule_id for a in advice],
            "rationales": [a.rationale for a in advice],
            "figures": [json.dumps(a.figures, sort_keys=True) for a in advice],
        },
    )


@task()
async def recommend(ctx: StepContext) -> dict[str, Any]:
    """Write the recommendations of T, replacing any earlier ones for T."""
    t = ctx.logical_time
    advice = [a for usage in await _usage(ctx.session, t) for a in usage_advice(usage)]
    advice += await _stale_translations(ctx.session, t)
    await store_advice(ctx.session, t, advice)
    counts = Counter(a.kind for a in advice)
    logger.info(
        "%d recommendations written", len(advice), extra={"event": "recommended"}
    )

    return {"recommendations": len(advice), "by_kind": dict(sorted(counts.items()))}


@task()
async def alert_high_deny_rate(ctx: StepContext) -> dict[str, Any]:
    """Raise a high_deny_rate alert per rule recommended so at T; resolve others."""
    rows = await ctx.session.execute(
        text(
            "SELECT rule_id, figures FROM recommendations"
            " WHERE logical_time = :t AND kind = :kind ORDER BY rule_id"
        ),
        {"t": ctx.logical_time, "kind": HIGH_DENY_RATE},
    )
    findings = [Finding(r.rule_id, r.figures) for r in rows]
    synced = await sync_alerts(
        ctx.session,
        kind=HIGH_DENY_RATE,
        severity="warning",
        findings=findings,
        at=ctx.logical_time,
    )

    return {"affected": len(findings), **synced.to_json()}
