"""detect_verdict_drift: replay canaries, and alert when a rule's verdicts drift.

:func:`replay_canaries` runs every canary of every active rule through the
evaluator provider and stores each result in ``replay_results``, keyed by canary
and logical time T (an upsert, so replaying T again writes the same rows).

:func:`detect_drift` then decides per rule, from the replay at T and the
previous replay of that rule (the latest one with a logical time before T):

- results the evaluator could not give (``evaluable`` false: the local
  evaluator cannot read a rule without a pattern) are left out of every figure:
  of the difference rate and of both deny shares;
- a rule drifts only with at least :data:`MIN_CANARIES` evaluable results at T
  (fewer canaries, or fewer that could be evaluated, never drift);
- it drifts when more than 20% of those results differ from the canaries'
  expected verdicts, or when its deny share moved by 0.2 or more (either way)
  since the previous replay; a previous replay with fewer than
  :data:`MIN_CANARIES` evaluable results has no deny share to compare with.

Shares and rates are compared as exact fractions, so a move of exactly 0.2
drifts and 20% exactly does not. A drifting rule gets one ``verdict_drift``
alert (critical); the open alerts of rules that no longer drift are resolved.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.metrics import share_above
from tasks.similarity import providers_of

logger = logging.getLogger(__name__)

KIND = "verdict_drift"
SEVERITY = "critical"
MIN_CANARIES = 5
DIFFER_PERCENT = 20
SHARE_MOVE = Fraction(1, 5)
WRITE_BATCH = 1000


@dataclass(frozen=True)
class _RuleText:
    id: str
    text: str
    pattern: str | None


_CANARIES = text(
    """
    SELECT c.id, c.rule_id, c.input, r.text, r.pattern
    FROM canaries c JOIN rules r ON r.id = c.rule_id
    WHERE r.status = 'active'
    ORDER BY c.rule_id, c.id
    """
)
_UPSERT = text(
    """
    INSERT INTO replay_results (canary_id, logical_time, rule_id, verdict,
                                evaluable, provider)
    SELECT r.canary_id, :t, r.rule_id, r.verdict, r.evaluable, :provider
    FROM unnest(CAST(:canary_ids AS text[]), CAST(:rule_ids AS text[]),
                CAST(:verdicts AS text[]), CAST(:evaluable AS boolean[]))
         AS r(canary_id, rule_id, verdict, evaluable)
    ON CONFLICT (canary_id, logical_time) DO UPDATE
    SET rule_id = EXCLUDED.rule_id, verdict = EXCLUDED.verdict,
        evaluable = EXCLUDED.evaluable, provider = EXCLUDED.provider
    """
)


@task()
async def replay_canaries(ctx: StepContext) -> dict[str, Any]:
    """Evaluate every canary of every active rule; store the results at T."""
    providers = providers_of(ctx)
    rows = (await ctx.session.execute(_CANARIES)).all()
    results: list[tuple[str, str, str | None, bool]] = []
    for row in rows:
        rule = _RuleText(row.rule_id, row.text, row.pattern)
        result = await providers.evaluator.evaluate(rule, row.input)
        results.append((row.id, row.rule_id, result.verdict, result.evaluable))
    for start in range(0, len(results), WRITE_BATCH):
        batch = results[start : start + WRITE_BATCH]
        await ctx.session.execute(
            _UPSERT,
            {
                "t": ctx.logical_time,
                "provider": providers.name,
                "canary_ids": [r[0] for r in batch],
                "rule_ids": [r[1] for r in batch],
                "verdicts": [r[2] for r in batch],
                "evaluable": [r[3] for r in batch],
            },
        )
    evaluable = sum(r[3] for r in results)
    logger.info(
        "%d canaries replayed, %d evaluable",
        len(results),
        evaluable,
        extra={"event": "canaries.replayed"},
    )

    return {
        "replayed": len(results),
        "evaluable": evaluable,
        "rules": len({r[1] for r in results}),
        "provider": providers.name,
    }


@dataclass(frozen=True)
class ReplayFigures:
    """One rule's replay at T and its previous replay, evaluable results only."""

    rule_id: str
    replays: int
    evaluable: int
    differing: int
    denies: int
    previous_at: datetime | None = None
    previous_evaluable: int = 0
    previous_denies: int = 0

    @property
    def deny_share(self) -> Fraction | None:
        return Fraction(self.denies, self.evaluable) if self.evaluable else None

    @property
    def previous_deny_share(self) -> Fraction | None:
        if self.previous_evaluable < MIN_CANARIES:
            return None
        return Fraction(self.previous_denies, self.previous_evaluable)

    @property
    def share_move(self) -> Fraction | None:
        """Deny share at T minus the previous one, when both can be compared."""
        now, before = self.deny_share, self.previous_deny_share
        if now is None or before is None:
            return None
        return now - before


def drift_reasons(figures: ReplayFigures) -> list[str]:
    """Why the rule drifts: ``verdicts_differ``, ``deny_share_moved``, or nothing."""
    if figures.evaluable < MIN_CANARIES:
        return []
    reasons = []
    if share_above(figures.differing, figures.evaluable, DIFFER_PERCENT):
        reasons.append("verdicts_differ")
    move = figures.share_move
    if move is not None and abs(move) >= SHARE_MOVE:
        reasons.append("deny_share_moved")

    return reasons


_FIGURES = text(
    """
    WITH current AS (
        SELECT rr.rule_id, count(*) AS replays,
               count(*) FILTER (WHERE rr.evaluable) AS evaluable,
               count(*) FILTER (WHERE rr.evaluable
                                AND rr.verdict <> c.expected_verdict) AS differing,
               count(*) FILTER (WHERE rr.evaluable AND rr.verdict = 'deny') AS denies
        FROM replay_results rr JOIN canaries c ON c.id = rr.canary_id
        JOIN rules r ON r.id = rr.rule_id AND r.status = 'active'
        WHERE rr.logical_time = :t
        GROUP BY rr.rule_id
    ), previous_at AS (
        SELECT rr.rule_id, max(rr.logical_time) AS at
        FROM replay_results rr JOIN current USING (rule_id)
        WHERE rr.logical_time < :t
        GROUP BY rr.rule_id
    ), previous AS (
        SELECT rr.rule_id, p.at,
               count(*) FILTER (WHERE rr.evaluable) AS evaluable,
               count(*) FILTER (WHERE rr.evaluable AND rr.verdict = 'deny') AS denies
        FROM replay_results rr
        JOIN previous_at p ON p.rule_id = rr.rule_id AND rr.logical_time = p.at
        GROUP BY rr.rule_id, p.at
    )
    SELECT c.rule_id, c.replays, c.evaluable, c.differing, c.denies,
           p.at AS previous_at, COALESCE(p.evaluable, 0) AS previous_evaluable,
           COALESCE(p.denies, 0) AS previous_denies
    FROM current c LEFT JOIN previous p USING (rule_id)
    ORDER BY c.rule_id
    """
)


def _rounded(value: Fraction | None) -> float | None:
    return None if value is None else round(float(value), 4)


def _details(figures: ReplayFigures, reasons: list[str]) -> dict[str, Any]:
    return {
        "reasons": reasons,
        "replays": figures.replays,
        "evaluable": figures.evaluable,
        "not_evaluable": figures.replays - figures.evaluable,
        "differing": figures.differing,
        "deny_share": _rounded(figures.deny_share),
        "previous_logical_time": (
            figures.previous_at.isoformat() if figures.previous_at else None
        ),
        "previous_deny_share": _rounded(figures.previous_deny_share),
        "share_move": _rounded(figures.share_move),
    }


@task()
async def detect_drift(ctx: StepContext) -> dict[str, Any]:
    """Raise ``verdict_drift`` for the rules whose replay at T drifted."""
    rows = await ctx.session.execute(_FIGURES, {"t": ctx.logical_time})
    figures = [ReplayFigures(**row._mapping) for row in rows]
    findings = []
    for rule in figures:
        reasons = drift_reasons(rule)
        if reasons:
            findings.append(Finding(rule.rule_id, _details(rule, reasons)))
    sync = await sync_alerts(
        ctx.session,
        kind=KIND,
        severity=SEVERITY,
        findings=findings,
        at=ctx.logical_time,
    )

    return {
        "rules": len(figures),
        "comparable": sum(r.evaluable >= MIN_CANARIES for r in figures),
        "drifting": [f.rule_id for f in findings][:100],
        "drifted": len(findings),
        **sync.to_json(),
    }
