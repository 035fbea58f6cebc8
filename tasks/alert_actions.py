"""People acting on alerts: acknowledge, resolve, and the listings they read.

An alert goes ``open → acknowledged → resolved`` (or straight from open to
resolved). Acting on an alert in a state that does not allow it is refused,
naming who moved it there and when, so that two people clicking at once learn
what happened instead of overwriting each other. Each change is recorded in the
``actions`` table in the same transaction.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.engine import record_action

ALERT_STATUSES = ("open", "acknowledged", "resolved")

_COLUMNS = """
    id, kind, severity, status, rule_id, locale, subject, details, first_seen_at,
    last_seen_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at
"""
_NAMES = tuple(_COLUMNS.replace(",", " ").split())


class AlertNotFoundError(LookupError):
    """No alert with this id."""

    def __init__(self, alert_id: int) -> None:
        super().__init__(f"no alert with id {alert_id}")
        self.alert_id = alert_id


class AlertStateError(ValueError):
    """The alert's status does not allow the requested change."""


def alert_dict(row: Any) -> dict[str, Any]:
    """An alert row as the API and the CLI show it."""
    return {name: getattr(row, name) for name in _NAMES}


async def get_alert(
    session: AsyncSession, alert_id: int, *, lock: bool = False
) -> dict[str, Any]:
    """One alert.

    Raises:
        AlertNotFoundError: no alert has this id.
    """
    query = f"SELECT {_COLUMNS} FROM alerts WHERE id = :id"
    row = (
        await session.execute(
            text(query + (" FOR UPDATE" if lock else "")), {"id": alert_id}
        )
    ).first()
    if row is None:
        raise AlertNotFoundError(alert_id)

    return alert_dict(row)


def _refuse(alert: dict[str, Any], wanted: str) -> AlertStateError:
    status = alert["status"]
    who, when = (
        (alert["resolved_by"], alert["resolved_at"])
        if status == "resolved"
        else (alert["acknowledged_by"], alert["acknowledged_at"])
    )
    by = f" by {who}" if who else ""
    at = f" at {when.isoformat()}" if when else ""
    msg = f"alert {alert['id']} is already {status}{by}{at}; it cannot be {wanted}"
    return AlertStateError(msg)


async def acknowledge_alert(
    session: AsyncSession,
    alert_id: int,
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Mark an open alert as seen by ``actor``; it stays until resolved.

    Raises:
        AlertNotFoundError: no alert has this id.
        AlertStateError: the alert is not open.
    """
    alert = await get_alert(session, alert_id, lock=True)
    if alert["status"] != "open":
        raise _refuse(alert, "acknowledged")
    await session.execute(
        text(
            "UPDATE alerts SET status = 'acknowledged', acknowledged_by = :actor,"
            " acknowledged_at = :at WHERE id = :id"
        ),
        {"id": alert_id, "actor": actor, "at": at},
    )
    await record_action(
        session, actor, "acknowledge_alert", f"alert/{alert_id}", note=note
    )

    return await get_alert(session, alert_id)


async def resolve_alert(
    session: AsyncSession,
    alert_id: int,
    *,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Close an open or acknowledged alert; a later run that finds the same
    condition opens a new one.

    Raises:
        AlertNotFoundError: no alert has this id.
        AlertStateError: the alert is already resolved.
    """
    alert = await get_alert(session, alert_id, lock=True)
    if alert["status"] == "resolved":
        raise _refuse(alert, "resolved again")
    await session.execute(
        text(
            "UPDATE alerts SET status = 'resolved', resolved_by = :actor,"
            " resolved_at = :at WHERE id = :id"
        ),
        {"id": alert_id, "actor": actor, "at": at},
    )
    await record_action(session, actor, "resolve_alert", f"alert/{alert_id}", note=note)

    return await get_alert(session, alert_id)


async def list_alerts_page(
    session: AsyncSession,
    *,
    status: str | None = None,
    kind: str | None = None,
    severity: str | None = None,
    rule_id: str | None = None,
    before_id: int | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Alerts newest first, keyset-paginated on id (``before_id`` excluded)."""
    rows = await session.execute(
        text(
            f"""
            SELECT {_COLUMNS} FROM alerts
            WHERE (CAST(:status AS text) IS NULL OR status = :status)
              AND (CAST(:kind AS text) IS NULL OR kind = :kind)
              AND (CAST(:severity AS text) IS NULL OR severity = :severity)
              AND (CAST(:rule_id AS text) IS NULL OR rule_id = :rule_id)
              AND (CAST(:before AS bigint) IS NULL OR id < :before)
            ORDER BY id DESC LIMIT :limit
            """
        ),
        {
            "status": status,
            "kind": kind,
            "severity": severity,
            "rule_id": rule_id,
            "before": before_id,
            "limit": limit,
        },
    )

    return [alert_dict(r) for r in rows]
