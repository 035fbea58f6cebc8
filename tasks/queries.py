"""Listings of the domain for the CLI and the API."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession


async def list_rules(
    session: AsyncSession,
    *,
    status: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """Rules by id with their latest overall health score (or null)."""
    rows = await session.execute(
        text(
            """
            SELECT r.id, r.maturity, r.status, r.scope, r.locale,
                   (SELECT h.overall FROM health_scores h WHERE h.rule_id = r.id
                    ORDER BY h.logical_time DESC LIMIT 1) AS health
            FROM rules r
            WHERE (CAST(:status AS text) IS NULL OR r.status = :status)
              AND (CAST(:after AS text) IS NULL OR r.id > :after)
            ORDER BY r.id LIMIT :limit
            """
        ),
        {"status": status, "after": after, "limit": limit},
    )
    return [
        {
            "id": r.id,
            "maturity": r.maturity,
            "status": r.status,
            "health": None if r.health is None else round(float(r.health), 2),
            "scope": r.scope,
            "locale": r.locale,
        }
        for r in rows
    ]


async def list_alerts(
    session: AsyncSession,
    *,
    status: str | None = None,
    kind: str | None = None,
    limit: int = 100,
    after: int | None = None,
) -> list[dict[str, Any]]:
    """Alerts by id, optionally only one status or kind."""
    rows = await session.execute(
        text(
            """
            SELECT id, kind, severity, status, rule_id, locale, details,
                   first_seen_at, last_seen_at
            FROM alerts
            WHERE (CAST(:status AS text) IS NULL OR status = :status)
              AND (CAST(:kind AS text) IS NULL OR kind = :kind)
              AND (CAST(:after AS bigint) IS NULL OR id > :after)
            ORDER BY id LIMIT :limit
            """
        ),
        {"status": status, "kind": kind, "after": after, "limit": limit},
    )
    return [
        {
            "id": r.id,
            "kind": r.kind,
            "severity": r.severity,
            "status": r.status,
            "rule_id": r.rule_id,
            "locale": r.locale,
            "details": r.details,
            "first_seen_at": r.first_seen_at.isoformat(),
            "last_seen_at": r.last_seen_at.isoformat(),
        }
        for r in rows
    ]


async def list_proposals(
    session: AsyncSession,
    *,
    status: str | None = None,
    limit: int = 100,
    after: str | None = None,
) -> list[dict[str, Any]]:
    """Proposals from the flywheel by id."""
    rows = await session.execute(
        text(
            """
            SELECT id, status, title, correction_ids, figures, rationale
            FROM proposals
            WHERE (CAST(:status AS text) IS NULL OR status = :status)
              AND (CAST(:after AS text) IS NULL OR id > :after)
            ORDER BY id LIMIT :limit
            """
        ),
        {"status": status, "after": after, "limit": limit},
    )
    return [
        {
            "id": r.id,
            "status": r.status,
            "title": r.title,
            "correction_ids": list(r.correction_ids),
            "figures": r.figures,
        }
        for r in rows
    ]
