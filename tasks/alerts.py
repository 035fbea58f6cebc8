"""Alerts: at most one open (or acknowledged) alert per kind and subject.

A job that finds a condition calls :func:`raise_alert`: it opens the alert, or
updates the open one (``last_seen_at``, details). A job that checked a set of
subjects calls :func:`resolve_cleared` with those still affected, and every other
open alert of that kind is resolved. ``last_seen_at`` is the run's logical time,
never the wall clock, so a job run twice writes the same rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import bindparam

logger = logging.getLogger(__name__)

SEVERITIES = ("info", "warning", "critical")


def alert_subject(rule_id: str | None, locale: str | None = None) -> str:
    """The subject key of an alert: the rule, or the rule and a locale."""
    if locale:
        return f"{rule_id}|{locale}"
    return rule_id or "-"


_UPSERT = text(
    """
    INSERT INTO alerts (kind, severity, rule_id, locale, subject, status, details,
                        first_seen_at, last_seen_at)
    VALUES (:kind, :severity, :rule_id, :locale, :subject, 'open', :details, :seen,
            :seen)
    ON CONFLICT (kind, subject) WHERE status IN ('open', 'acknowledged')
    DO UPDATE SET details = EXCLUDED.details, severity = EXCLUDED.severity,
                  last_seen_at = greatest(alerts.last_seen_at, EXCLUDED.last_seen_at)
    RETURNING id, (xmax = 0) AS opened
    """
).bindparams(bindparam("details", type_=JSONB))


async def raise_alert(
    session: AsyncSession,
    *,
    kind: str,
    severity: str,
    rule_id: str | None,
    seen_at: datetime,
    details: dict[str, Any],
    locale: str | None = None,
) -> tuple[int, bool]:
    """Open an alert or update the open one; returns its id and whether it opened."""
    if severity not in SEVERITIES:
        msg = f"alert severity {severity!r} is not one of {', '.join(SEVERITIES)}"
        raise ValueError(msg)
    row = (
        await session.execute(
            _UPSERT,
            {
                "kind": kind,
                "severity": severity,
                "rule_id": rule_id,
                "locale": locale,
                "subject": alert_subject(rule_id, locale),
                "details": details,
                "seen": seen_at,
            },
        )
    ).one()

    return int(row[0]), bool(row[1])


async def resolve_cleared(
    session: AsyncSession,
    *,
    kind: str,
    still_affected: Iterable[str],
    resolved_at: datetime,
    checked: Iterable[str] | None = None,
) -> int:
    """Resolve open alerts of ``kind`` whose subject is no longer affected.

    Args:
        still_affected: subjects (see :func:`alert_subject`) that keep the alert.
        checked: if given, only subjects in it are considered (a job that looked
            at some rules must not resolve alerts about the others).
    """
    params: dict[str, Any] = {
        "kind": kind,
        "keep": list(still_affected),
        "at": resolved_at,
    }
    scope = ""
    if checked is not None:
        params["checked"] = list(checked)
        scope = "AND subject = ANY(:checked)"
    result = await session.execute(
        text(
            f"""
            UPDATE alerts SET status = 'resolved', resolved_at = :at,
                   resolved_by = 'system'
            WHERE kind = :kind AND status IN ('open', 'acknowledged')
              AND NOT (subject = ANY(:keep)) {scope}
            """
        ),
        params,
    )

    return int(result.rowcount or 0)  # type: ignore[attr-defined]
