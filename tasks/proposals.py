"""Reviewing the flywheel's proposals: approve (a new rule) or dismiss.

Approving a pending proposal creates one ``experimental`` rule from it, whose id
is derived from the proposal's (:func:`rule_id_for`), in the same transaction
that marks the proposal approved and records who asked. A proposal is decided
once: approving or dismissing one that is no longer pending is refused, so a
proposal never yields two rules.

The new rule takes its scope, effect and locale from the rules the proposal's
corrections were about (the most common of each), or ``general``, ``deny`` and
``en`` when the corrections name no rule; it is active, version 1, reviewed on
creation, with a 90-day review interval.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.engine import record_action

PROPOSAL_STATUSES = ("pending", "approved", "dismissed")
REVIEW_INTERVAL_DAYS = 90
DEFAULTS = {"scope": "general", "effect": "deny", "locale": "en"}

_COLUMNS = (
    "id",
    "status",
    "title",
    "text",
    "rationale",
    "correction_ids",
    "figures",
    "logical_time",
    "created_at",
    "reviewed_by",
    "reviewed_at",
    "review_note",
    "rule_id",
)
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM proposals"


class ProposalNotFoundError(LookupError):
    """No proposal with this id."""

    def __init__(self, proposal_id: str) -> None:
        super().__init__(f"no proposal with id {proposal_id!r}")
        self.proposal_id = proposal_id


class ProposalStateError(ValueError):
    """The proposal was already decided, or its rule id is taken."""


def rule_id_for(proposal_id: str) -> str:
    """The id of the rule approving ``proposal_id`` creates."""
    return f"R-{proposal_id}"


def proposal_dict(row: Any) -> dict[str, Any]:
    """A proposal row as the API and the CLI show it."""
    proposal = {name: getattr(row, name) for name in _COLUMNS}
    proposal["correction_ids"] = list(proposal["correction_ids"])

    return proposal


async def get_proposal(
    session: AsyncSession, proposal_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """One proposal.

    Raises:
        ProposalNotFoundError: no proposal has this id.
    """
    query = _SELECT + " WHERE id = :id" + (" FOR UPDATE" if lock else "")
    row = (await session.execute(text(query), {"id": proposal_id})).first()
    if row is None:
        raise ProposalNotFoundError(proposal_id)

    return proposal_dict(row)


def _pending_or_refuse(proposal: dict[str, Any], wanted: str) -> None:
    if proposal["status"] == "pending":
        return
    by = f" by {proposal['reviewed_by']}" if proposal["reviewed_by"] else ""
    at = proposal["reviewed_at"]
    when = f" at {at.isoformat()}" if at else ""
    msg = (
        f"proposal {proposal['id']!r} was already {proposal['status']}{by}{when}; "
        f"only a pending proposal can be {wanted}"
    )
    raise ProposalStateError(msg)


async def _rule_traits(
    session: AsyncSession, correction_ids: list[str]
) -> dict[str, str]:
    rows = (
        await session.execute(
            text(
                """
                SELECT r.scope, r.effect, r.locale FROM corrections c
                JOIN rules r ON r.id = c.rule_id WHERE c.id = ANY(:ids)
                """
            ),
            {"ids": correction_ids},
        )
    ).all()
    traits = dict(DEFAULTS)
    for index, name in enumerate(("scope", "effect", "locale")):
        counts = Counter(row[index] for row in rows)
        if counts:
            traits[name] = min(counts, key=lambda v: (-counts[v], v))

    return traits


async def approve_proposal(
    session: AsyncSession,
    proposal_id: str,
    *,
    reviewer: str,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Create the proposal's rule and mark it approved; returns the proposal.

    Raises:
        ProposalNotFoundError: no proposal has this id.
        ProposalStateError: it is not pending, or its rule id already exists.
    """
    proposal = await get_proposal(session, proposal_id, lock=True)
    _pending_or_refuse(proposal, "approved")
    rule_id = rule_id_for(proposal_id)
    traits = await _rule_traits(session, proposal["correction_ids"])
    created = await session.scalar(
        text(
            """
            INSERT INTO rules (id, title, text, locale, version, maturity, status,
                created_at, review_interval_days, last_reviewed_at, legal_hold,
                scope, effect, required_locales, examples, source,
                origin_proposal_id)
            VALUES (:id, :title, :text, :locale, 1, 'experimental', 'active', :at,
                :interval, :at, false, :scope, :effect, '{}', '[]', 'proposal',
                :proposal)
            ON CONFLICT (id) DO NOTHING RETURNING id
            """
        ),
        {
            "id": rule_id,
            "title": proposal["title"],
            "text": proposal["text"],
            "at": at,
            "interval": REVIEW_INTERVAL_DAYS,
            "proposal": proposal_id,
            **traits,
        },
    )
    if created is None:
        msg = (
            f"rule {rule_id!r} for proposal {proposal_id!r} already exists; "
            "the proposal cannot create it twice"
        )
        raise ProposalStateError(msg)
    await _decide(session, proposal_id, "approved", reviewer, at, note, rule_id)
    await record_action(
        session,
        actor,
        "approve_proposal",
        f"proposal/{proposal_id}",
        reviewer=reviewer,
        note=note,
        rule_id=rule_id,
    )

    return await get_proposal(session, proposal_id)


async def dismiss_proposal(
    session: AsyncSession,
    proposal_id: str,
    *,
    reviewer: str,
    actor: str,
    at: datetime,
    note: str | None = None,
) -> dict[str, Any]:
    """Mark a pending proposal dismissed; returns the proposal.

    Raises:
        ProposalNotFoundError: no proposal has this id.
        ProposalStateError: it is not pending.
    """
    proposal = await get_proposal(session, proposal_id, lock=True)
    _pending_or_refuse(proposal, "dismissed")
    await _decide(session, proposal_id, "dismissed", reviewer, at, note, None)
    await record_action(
        session,
        actor,
        "dismiss_proposal",
        f"proposal/{proposal_id}",
        reviewer=reviewer,
        note=note,
    )

    return await get_proposal(session, proposal_id)


async def _decide(
    session: AsyncSession,
    proposal_id: str,
    status: str,
    reviewer: str,
    at: datetime,
    note: str | None,
    rule_id: str | None,
) -> None:
    await session.execute(
        text(
            """
            UPDATE proposals SET status = :status, reviewed_by = :reviewer,
                reviewed_at = :at, review_note = :note, rule_id = :rule
            WHERE id = :id
            """
        ),
        {
            "id": proposal_id,
            "status": status,
            "reviewer": reviewer,
            "at": at,
            "note": note,
            "rule": rule_id,
        },
    )


async def list_proposals_page(
    session: AsyncSession,
    *,
    status: str | None = None,
    after_id: str | None = None,
    limit: int = 100,
) -> list[dict[str, Any]]:
    """Proposals by id, keyset-paginated (``after_id`` excluded)."""
    rows = await session.execute(
        text(
            _SELECT
            + """
            WHERE (CAST(:status AS text) IS NULL OR status = :status)
              AND (CAST(:after AS text) IS NULL OR id > :after)
            ORDER BY id LIMIT :limit
            """
        ),
        {"status": status, "after": after_id, "limit": limit},
    )

    return [proposal_dict(r) for r in rows]
