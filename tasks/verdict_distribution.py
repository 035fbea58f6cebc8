"""monitor_verdict_distribution: rules whose production deny share shifted.

For each active rule, :func:`compare_verdict_shares` compares the deny share of
its evaluations in the 7 days before T, ``[T - 7 d, T)``, with that of the 30
days before those, ``[T - 37 d, T - 7 d)``. A move of 0.2 or more, either way,
is a ``verdict_shift`` alert (warning); the open alerts of rules whose share has
settled are resolved.

Both windows need at least :data:`MIN_EVALUATIONS` evaluations: below that a
share says too little (one evaluation moves it by 1), so the rule is not
compared and has no alert. Shares are compared as exact fractions, so a move of
exactly 0.2 is a shift.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.metrics import verdict_counts
from tasks.windows import window

logger = logging.getLogger(__name__)

KIND = "verdict_shift"
SEVERITY = "warning"
RECENT_DAYS = 7
BASELINE_DAYS = 30
MIN_EVALUATIONS = 5
SHIFT = Fraction(1, 5)

_SHARES = text(
    f"""
    WITH recent AS ({verdict_counts("recent_end", "recent_start")}),
         baseline AS ({verdict_counts("baseline_end", "baseline_start")})
    SELECT r.id AS rule_id,
           recent.evaluations AS recent_evaluations, recent.denies AS recent_denies,
           baseline.evaluations AS baseline_evaluations,
           baseline.denies AS baseline_denies
    FROM rules r
    JOIN recent ON recent.rule_id = r.id
    JOIN baseline ON baseline.rule_id = r.id
    WHERE r.status = 'active'
      AND recent.evaluations >= :min AND baseline.evaluations >= :min
    ORDER BY r.id
    """
)


@dataclass(frozen=True)
class VerdictShares:
    """One rule's evaluations and denies in the recent and the baseline window."""

    rule_id: str
    recent_evaluations: int
    recent_denies: int
    baseline_evaluations: int
    baseline_denies: int

    @property
    def shift(self) -> Fraction:
        """Recent deny share minus baseline deny share."""
        recent = Fraction(self.recent_denies, self.recent_evaluations)
        baseline = Fraction(self.baseline_denies, self.baseline_evaluations)
        return recent - baseline


def has_shifted(shares: VerdictShares) -> bool:
    """Both windows have enough evaluations and the share moved by 0.2 or more."""
    enough = min(shares.recent_evaluations, shares.baseline_evaluations)

    return enough >= MIN_EVALUATIONS and abs(shares.shift) >= SHIFT


def _details(shares: VerdictShares, bounds: dict[str, Any]) -> dict[str, Any]:
    return {
        "recent": {
            "evaluations": shares.recent_evaluations,
            "denies": shares.recent_denies,
            "deny_share": round(shares.recent_denies / shares.recent_evaluations, 4),
        },
        "baseline": {
            "evaluations": shares.baseline_evaluations,
            "denies": shares.baseline_denies,
            "deny_share": round(
                shares.baseline_denies / shares.baseline_evaluations, 4
            ),
        },
        "shift": round(float(shares.shift), 4),
        "windows": {k: v.isoformat() for k, v in bounds.items()},
    }


@task()
async def compare_verdict_shares(ctx: StepContext) -> dict[str, Any]:
    """Raise ``verdict_shift`` where the 7-day deny share left the 30-day one."""
    recent_start, recent_end = window(ctx.logical_time, RECENT_DAYS)
    baseline_start, baseline_end = window(recent_start, BASELINE_DAYS)
    bounds = {
        "recent_start": recent_start,
        "recent_end": recent_end,
        "baseline_start": baseline_start,
        "baseline_end": baseline_end,
    }
    rows = await ctx.session.execute(_SHARES, {**bounds, "min": MIN_EVALUATIONS})
    compared = [VerdictShares(**row._mapping) for row in rows]
    findings = [
        Finding(s.rule_id, _details(s, bounds)) for s in compared if has_shifted(s)
    ]
    sync = await sync_alerts(
        ctx.session,
        kind=KIND,
        severity=SEVERITY,
        findings=findings,
        at=ctx.logical_time,
    )

    return {
        "compared": len(compared),
        "shifted": len(findings),
        "recent_window": [recent_start.isoformat(), recent_end.isoformat()],
        "baseline_window": [baseline_start.isoformat(), baseline_end.isoformat()],
        **sync.to_json(),
    }
