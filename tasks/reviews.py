"""Policy reviews: when a rule is due, the review_* alerts, recording a review.

A rule's review due date (DESIGN §4, policy_review_cycle) is defined once, by
:func:`review_due_sql`, and used by both policy_review_cycle and the freshness
dimension of compute_health_scores.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.context import StepContext
from orchestrator.engine import record_action
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.windows import DAY

logger = logging.getLogger(__name__)

REVIEW_DUE = "review_due"
REVIEW_OVERDUE_30 = "review_overdue_30"
REVIEW_OVERDUE_60 = "review_overdue_60"
OVERDUE_WARNING = 30 * DAY
OVERDUE_CRITICAL = 60 * DAY


class RuleNotFoundError(LookupError):
    """No rule has the id given."""


def review_due_sql(alias: str = "r") -> str:
    """SQL: the review due date of the rule row ``alias``.

    Its last review (or its creation) plus its review interval (of 24-hour days);
    or its ``review_requested_at`` when that is later than the last review (or
    creation) and earlier than that sum.
    """
    last = f"COALESCE({alias}.last_reviewed_at, {alias}.created_at)"
    by_interval = f"({last} + {alias}.review_interval_days * interval '24 hours')"
    requested = f"{alias}.review_requested_at"

    return (
        f"(CASE WHEN {requested} > {last} AND {requested} < {by_interval}"
        f" THEN {requested} ELSE {by_interval} END)"
    )


@dataclass(frozen=True)
class DueReview:
    """An active rule whose review due date is at or before T."""

    rule_id: str
    due_at: datetime
    overdue: timedelta

    @property
    def details(self) -> dict[str, Any]:
        """The alert details: the due date and the days past it."""
        return {
            "due_at": self.due_at.isoformat(),
            "days_overdue": round(self.overdue / DAY, 4),
        }


def review_alert_kinds(overdue: timedelta) -> list[str]:
    """The alert kinds a rule gets ``overdue`` past its due date (zero or more)."""
    if overdue < timedelta(0):
        return []
    kinds = [REVIEW_DUE]
    if overdue >= OVERDUE_WARNING:
        kinds.append(REVIEW_OVERDUE_30)
    if overdue >= OVERDUE_CRITICAL:
        kinds.append(REVIEW_OVERDUE_60)

    return kinds


async def due_reviews(session: AsyncSession, t: datetime) -> list[DueReview]:
    """Every active rule whose review due date is at or before ``t``."""
    rows = await session.execute(
        text(
            f"""
            SELECT id, due_at FROM (
                SELECT r.id, {review_due_sql("r")} AS due_at
                FROM rules r WHERE r.status = 'active' AND r.created_at <= :t
            ) due
            WHERE due_at <= :t ORDER BY id
            """
        ),
        {"t": t},
    )

    return [DueReview(r.id, r.due_at, t - r.due_at) for r in rows]


@task()
async def check_reviews(ctx: StepContext) -> dict[str, Any]:
    """Raise review_due, review_overdue_30 and _60 alerts; resolve the cleared."""
    due = await due_reviews(ctx.session, ctx.logical_time)
    severities = {
        REVIEW_DUE: "info",
        REVIEW_OVERDUE_30: "warning",
        REVIEW_OVERDUE_60: "critical",
    }
    output: dict[str, Any] = {"due": len(due)}
    for kind, severity in severities.items():
        findings = [
            Finding(d.rule_id, d.details)
            for d in due
            if kind in review_alert_kinds(d.overdue)
        ]
        synced = await sync_alerts(
            ctx.session,
            kind=kind,
            severity=severity,
            findings=findings,
            at=ctx.logical_time,
        )
        output[kind] = {"affected": len(findings), **synced.to_json()}

    return output


async def record_review(
    session: AsyncSession, rule_id: str, reviewer: str, at: datetime, note: str | None
) -> dict[str, Any]:
    """Record that ``reviewer`` reviewed the rule at ``at``.

    Sets its last review to ``at`` and clears ``review_requested_at``; the next
    policy_review_cycle run resolves its review alerts. The review is written to
    the audit trail with the note. Runs in the caller's transaction.

    Raises:
        RuleNotFoundError: no rule has this id.
        ValueError: ``at`` has no time zone, or ``reviewer`` is empty.
    """
    if at.tzinfo is None:
        msg = f"review time {at.isoformat()} has no time zone (e.g. 2026-01-31T09:00Z)"
        raise ValueError(msg)
    if not reviewer.strip():
        msg = "a review needs the reviewer's name; none was given"
        raise ValueError(msg)
    row = (
        await session.execute(
            text(
                """
                UPDATE rules SET last_reviewed_at = :at, review_requested_at = NULL
                WHERE id = :id RETURNING id, review_interval_days
                """
            ),
            {"id": rule_id, "at": at},
        )
    ).one_or_none()
    if row is None:
        msg = f"rule {rule_id!r} does not exist; list the rules with `rulerepo rules`"
        raise RuleNotFoundError(msg)
    await record_action(
        session, reviewer, "record_review", rule_id, at=at.isoformat(), note=note
    )
    next_due = at + row.review_interval_days * DAY
    logger.info(
        "review of rule %s recorded, next due at %s",
        rule_id,
        next_due.isoformat(),
        extra={"event": "review.recorded"},
    )

    return {"rule_id": rule_id, "reviewed_at": at, "next_due_at": next_due}
