"""Alerts raised and resolved a whole kind at a time.

:func:`tasks.alerts.raise_alert` handles one subject per statement; a job that
checks every rule finds thousands of subjects at once, so :func:`sync_alerts`
opens or updates all of them in one ``INSERT … SELECT FROM unnest(…)`` with the
same semantics (one open or acknowledged alert per kind and subject, last seen at
the logical time), then resolves the kind's other open alerts with
:func:`tasks.alerts.resolve_cleared`.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.alerts import SEVERITIES, alert_subject, resolve_cleared

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Finding:
    """One subject found in an alert's condition, with the figures that show it."""

    rule_id: str
    details: dict[str, Any] = field(default_factory=dict)
    locale: str | None = None

    @property
    def subject(self) -> str:
        """The alert subject: the rule, or the rule and locale."""
        return alert_subject(self.rule_id, self.locale)


@dataclass(frozen=True)
class AlertSync:
    """What :func:`sync_alerts` did to one kind of alert."""

    opened: int
    updated: int
    resolved: int

    def to_json(self) -> dict[str, int]:
        """The counts, for a step output."""
        return {
            "opened": self.opened,
            "updated": self.updated,
            "resolved": self.resolved,
        }


_UPSERT_MANY = text(
    """
    INSERT INTO alerts (kind, severity, rule_id, locale, subject, status, details,
                        first_seen_at, last_seen_at)
    SELECT :kind, :severity, f.rule_id, f.locale, f.subject, 'open',
           CAST(f.details AS jsonb), :seen, :seen
    FROM unnest(CAST(:rule_ids AS text[]), CAST(:locales AS text[]),
                CAST(:subjects AS text[]), CAST(:details AS text[]))
         AS f(rule_id, locale, subject, details)
    ON CONFLICT (kind, subject) WHERE status IN ('open', 'acknowledged')
    DO UPDATE SET details = EXCLUDED.details, severity = EXCLUDED.severity,
                  last_seen_at = greatest(alerts.last_seen_at, EXCLUDED.last_seen_at)
    RETURNING (xmax = 0) AS opened
    """
)


async def raise_alerts(
    session: AsyncSession,
    *,
    kind: str,
    severity: str,
    findings: Sequence[Finding],
    seen_at: datetime,
) -> tuple[int, int]:
    """Open or update one alert per finding; returns (opened, updated)."""
    if severity not in SEVERITIES:
        msg = f"alert severity {severity!r} is not one of {', '.join(SEVERITIES)}"
        raise ValueError(msg)
    unique = {f.subject: f for f in findings}
    if not unique:
        return 0, 0
    rows = await session.execute(
        _UPSERT_MANY,
        {
            "kind": kind,
            "severity": severity,
            "seen": seen_at,
            "rule_ids": [f.rule_id for f in unique.values()],
            "locales": [f.locale for f in unique.values()],
            "subjects": list(unique),
            "details": [json.dumps(f.details, sort_keys=True) for f in unique.values()],
        },
    )
    opened = sum(1 for (was_opened,) in rows if was_opened)

    return opened, len(unique) - opened


async def sync_alerts(
    session: AsyncSession,
    *,
    kind: str,
    severity: str,
    findings: Sequence[Finding],
    at: datetime,
    checked: Iterable[str] | None = None,
) -> AlertSync:
    """Make the open alerts of ``kind`` match ``findings`` at logical time ``at``.

    Args:
        findings: every subject that has the condition at ``at``.
        checked: the subjects the job looked at; alerts about others stay as they
            are. ``None`` resolves every other open alert of the kind, including
            those about rules the job no longer looks at (deprecated, archived).
    """
    opened, updated = await raise_alerts(
        session, kind=kind, severity=severity, findings=findings, seen_at=at
    )
    resolved = await resolve_cleared(
        session,
        kind=kind,
        still_affected=[f.subject for f in findings],
        resolved_at=at,
        checked=checked,
    )
    logger.info(
        "%s alerts: %d opened, %d still open, %d resolved",
        kind,
        opened,
        updated,
        resolved,
        extra={"event": "alerts.synced"},
    )

    return AlertSync(opened, updated, resolved)
