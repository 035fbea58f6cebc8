"""auto_promote_rules: promote or demote active rules by their record (DESIGN §4).

- experimental → stable: age ≥ 30 days, ≥ 20 evaluations, false-positive rate < 5%;
- stable → proven: age ≥ 60 days, false-positive rate < 1%;
- stable or proven → experimental: false-positive rate > 10%.

Evaluations and the false-positive rate count everything before T. Two tasks:
:func:`decide_maturity` records each change in ``maturity_history`` keyed by
(rule, T), and :func:`apply_maturity` sets the rules' maturity from those rows.
A rule that already has a change at T is decided for T and is skipped, so a
re-run never promotes a rule a second level.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.metrics import fp_rate, judgment_counts, share_above, share_below
from tasks.windows import DAY

logger = logging.getLogger(__name__)

EXPERIMENTAL, STABLE, PROVEN = "experimental", "stable", "proven"
STABLE_MIN_AGE = 30 * DAY
STABLE_MIN_EVALUATIONS = 20
STABLE_FP_BELOW_PERCENT = 5
PROVEN_MIN_AGE = 60 * DAY
PROVEN_FP_BELOW_PERCENT = 1
DEMOTE_FP_ABOVE_PERCENT = 10


@dataclass(frozen=True)
class RuleRecord:
    """What promotion looks at for one rule at T."""

    rule_id: str
    maturity: str
    age: timedelta
    evaluations: int
    judgments: int
    false_positives: int

    @property
    def figures(self) -> dict[str, Any]:
        """The figures a maturity change records."""
        return {
            "age_days": round(self.age / DAY, 4),
            "evaluations": self.evaluations,
            "judgments": self.judgments,
            "false_positives": self.false_positives,
            "fp_rate": fp_rate(self.false_positives, self.judgments),
        }


@dataclass(frozen=True)
class MaturityChange:
    """One level up, or straight back to experimental, with its reason."""

    rule_id: str
    from_maturity: str
    to_maturity: str
    reason: str
    figures: dict[str, Any]


def _rate(record: RuleRecord) -> str:
    rate = 100 * fp_rate(record.false_positives, record.judgments)

    return (
        f"false-positive rate {rate:.2f}% ({record.false_positives}/{record.judgments})"
    )


def maturity_change(record: RuleRecord) -> MaturityChange | None:
    """The change this record earns, if any (at most one level)."""
    fp, judged = record.false_positives, record.judgments
    days = f"age {record.age / DAY:.2f} days"
    if record.maturity in (STABLE, PROVEN) and share_above(
        fp, judged, DEMOTE_FP_ABOVE_PERCENT
    ):
        target, reason = EXPERIMENTAL, f"{_rate(record)} > {DEMOTE_FP_ABOVE_PERCENT}%"
    elif (
        record.maturity == EXPERIMENTAL
        and record.age >= STABLE_MIN_AGE
        and record.evaluations >= STABLE_MIN_EVALUATIONS
        and share_below(fp, judged, STABLE_FP_BELOW_PERCENT)
    ):
        target, reason = (
            STABLE,
            (
                f"{days} ≥ 30, {record.evaluations} evaluations ≥ "
                f"{STABLE_MIN_EVALUATIONS}, {_rate(record)} < {STABLE_FP_BELOW_PERCENT}%"
            ),
        )
    elif (
        record.maturity == STABLE
        and record.age >= PROVEN_MIN_AGE
        and share_below(fp, judged, PROVEN_FP_BELOW_PERCENT)
    ):
        target = PROVEN
        reason = f"{days} ≥ 60, {_rate(record)} < {PROVEN_FP_BELOW_PERCENT}%"
    else:
        return None

    return MaturityChange(
        record.rule_id, record.maturity, target, reason, record.figures
    )


async def undecided_records(session: AsyncSession, t: datetime) -> list[RuleRecord]:
    """Every active rule with no maturity change at ``t`` yet, with its figures."""
    rows = await session.execute(
        text(
            f"""
            SELECT r.id, r.maturity, CAST(:t AS timestamptz) - r.created_at AS age,
                   COALESCE(v.evaluations, 0), COALESCE(j.judgments, 0),
                   COALESCE(j.false_positives, 0)
            FROM rules r
            LEFT JOIN (SELECT rule_id, count(*) AS evaluations FROM evaluations
                       WHERE created_at < :t GROUP BY rule_id) v ON v.rule_id = r.id
            LEFT JOIN ({judgment_counts("t")}) j ON j.rule_id = r.id
            WHERE r.status = 'active' AND r.created_at <= :t
              AND r.maturity IN ('experimental', 'stable', 'proven')
              AND NOT EXISTS (SELECT 1 FROM maturity_history m
                              WHERE m.rule_id = r.id AND m.logical_time = :t)
            ORDER BY r.id
            """
        ),
        {"t": t},
    )

    return [RuleRecord(*row) for row in rows]


_RECORD = text(
    """
    INSERT INTO maturity_history (rule_id, logical_time, from_maturity, to_maturity,
                                  reason, figures)
    SELECT c.rule_id, :t, c.from_m, c.to_m, c.reason, CAST(c.figures AS jsonb)
    FROM unnest(CAST(:rule_ids AS text[]), CAST(:froms AS text[]),
                CAST(:tos AS text[]), CAST(:reasons AS text[]),
                CAST(:figures AS text[])) AS c(rule_id, from_m, to_m, reason, figures)
    ON CONFLICT (rule_id, logical_time) DO NOTHING
    """
)


@task()
async def decide_maturity(ctx: StepContext) -> dict[str, Any]:
    """Record in maturity_history the change each undecided rule earns at T."""
    records = await undecided_records(ctx.session, ctx.logical_time)
    changes = [c for c in map(maturity_change, records) if c is not None]
    await ctx.session.execute(
        _RECORD,
        {
            "t": ctx.logical_time,
            "rule_ids": [c.rule_id for c in changes],
            "froms": [c.from_maturity for c in changes],
            "tos": [c.to_maturity for c in changes],
            "reasons": [c.reason for c in changes],
            "figures": [json.dumps(c.figures, sort_keys=True) for c in changes],
        },
    )
    moves = Counter(f"{c.from_maturity}->{c.to_maturity}" for c in changes)
    logger.info(
        "%d of %d rules change maturity",
        len(changes),
        len(records),
        extra={"event": "maturity.decided"},
    )

    return {"checked": len(records), "changes": dict(sorted(moves.items()))}


@task()
async def apply_maturity(ctx: StepContext) -> dict[str, Any]:
    """Set each rule's maturity to the change recorded for it at T."""
    result = await ctx.session.execute(
        text(
            """
            UPDATE rules r SET maturity = m.to_maturity
            FROM maturity_history m
            WHERE m.rule_id = r.id AND m.logical_time = :t
              AND r.maturity = m.from_maturity
            """
        ),
        {"t": ctx.logical_time},
    )

    return {"applied": int(result.rowcount or 0)}  # type: ignore[attr-defined]
