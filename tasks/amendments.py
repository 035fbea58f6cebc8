"""Asking for a norm amendment to be propagated (API, CLI or event)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text

from orchestrator.client import Orchestrator
from orchestrator.engine import TriggerResult
from orchestrator.states import Trigger

GRAPH_NAME = "propagate_norm_amendment"


class AmendmentError(ValueError):
    """The amendment names an unknown norm or an invalid version."""


async def request_amendment(
    client: Orchestrator,
    *,
    norm_id: str,
    version: int,
    summary: str,
    actor: str,
    at: datetime,
    trigger: Trigger,
) -> TriggerResult:
    """Record the amendment (norm, version) and start its propagation once.

    Asking again for the same (norm, version) answers with the run started the
    first time, whatever the summary says.
    """
    if version < 1:
        msg = f"amendment version must be a positive integer, got {version}"
        raise AmendmentError(msg)
    async with client.sessions() as session:
        current = await session.scalar(
            text("SELECT version FROM norms WHERE id = :id"), {"id": norm_id}
        )
    if current is None:
        msg = f"norm {norm_id!r} does not exist; load or import it first"
        raise AmendmentError(msg)
    # The run first: a refused trigger (the graph's run limit) leaves no row,
    # and a repeated request finds the first run by its dedup key.
    result = await client.trigger(
        GRAPH_NAME,
        logical_time=at,
        trigger=trigger,
        actor=actor,
        params={"norm_id": norm_id, "version": version, "summary": summary},
        dedup_key=f"{norm_id}@{version}",
    )
    async with client.sessions() as session, session.begin():
        await session.execute(
            text(
                """
                INSERT INTO amendments (norm_id, version, summary, requested_by,
                                        requested_at, run_id)
                VALUES (:norm, :version, :summary, :actor, :at, :run)
                ON CONFLICT DO NOTHING
                """
            ),
            {
                "norm": norm_id,
                "version": version,
                "summary": summary,
                "actor": actor,
                "at": at,
                "run": str(result.run_id),
            },
        )
    return result
