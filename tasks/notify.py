"""Posting critical alerts to ``ALERT_WEBHOOK_URL`` (DESIGN §4, Alerts).

:func:`notify_critical_alerts` is the last step of the graphs that can open
critical alerts. It posts every open critical alert not yet notified, with the
header ``Idempotency-Key: alert-<id>``, and marks it notified at the run's
logical time. The rows are locked with ``SKIP LOCKED``, so two graphs notifying
at once never post the same alert twice.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.webhooks import WebhookDeliveryError, post_json, settings_of

logger = logging.getLogger(__name__)

_PENDING = text(
    """
    SELECT id, kind, severity, rule_id, locale, subject, status, details,
           first_seen_at, last_seen_at
    FROM alerts
    WHERE severity = 'critical' AND status = 'open' AND notified_at IS NULL
    ORDER BY id
    FOR UPDATE SKIP LOCKED
    """
)


def alert_payload(row: Any) -> dict[str, Any]:
    """The JSON body posted for one alert."""
    return {
        "id": row.id,
        "kind": row.kind,
        "severity": row.severity,
        "status": row.status,
        "rule_id": row.rule_id,
        "locale": row.locale,
        "subject": row.subject,
        "details": row.details,
        "first_seen_at": row.first_seen_at.isoformat(),
        "last_seen_at": row.last_seen_at.isoformat(),
    }


@task()
async def notify_critical_alerts(ctx: StepContext) -> dict[str, Any]:
    """POST each open critical alert not yet notified; mark it notified at T.

    Does nothing when ``ALERT_WEBHOOK_URL`` is not set. An alert the webhook
    does not accept fails the step after the others were tried; the step's
    retry posts again with the same idempotency keys.
    """
    url = settings_of(ctx).alert_webhook_url
    if not url:
        return {"notified": 0, "skipped": "ALERT_WEBHOOK_URL is not set"}
    rows = (await ctx.session.execute(_PENDING)).all()
    notified: list[int] = []
    failed: list[str] = []
    for row in rows:
        try:
            await post_json(url, alert_payload(row), idempotency_key=f"alert-{row.id}")
        except WebhookDeliveryError as exc:
            failed.append(str(exc))
            continue
        notified.append(row.id)
    await ctx.session.execute(
        text("UPDATE alerts SET notified_at = :t WHERE id = ANY(:ids)"),
        {"t": ctx.logical_time, "ids": notified},
    )
    if failed:
        msg = f"{len(failed)} critical alerts were not delivered: {'; '.join(failed)}"
        raise WebhookDeliveryError(msg)
    logger.info(
        "%d critical alerts posted", len(notified), extra={"event": "alerts.notified"}
    )

    return {"notified": len(notified), "alert_ids": notified[:100]}
