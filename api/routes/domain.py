"""The domain endpoints: alerts, rule reviews, proposals and norm amendments."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Response, Security
from sqlalchemy import text

from api.deps import ActorHeader, ClientDep, NowDep, SessionsDep, actor_of, bearer
from api.errors import ApiError, error_responses
from api.fields import AlertId, Name, ProposalId
from api.models import (
    Alert,
    AlertStatusName,
    AmendmentBody,
    AmendmentResult,
    NoteBody,
    Proposal,
    ProposalStatusName,
    Review,
    ReviewBody,
    ReviewerBody,
    SeverityName,
)
from api.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.routes.graphs import running_error
from api.runs_query import run_summary
from orchestrator.db import transaction
from orchestrator.engine import record_action
from orchestrator.errors import RunInProgressError
from orchestrator.states import Trigger
from tasks import alert_actions, proposals
from tasks.amendments import request_amendment
from tasks.reviews import RuleNotFoundError, record_review

router = APIRouter()
MUTATION = [Security(bearer)]
AlertIdPath = Annotated[AlertId, Path(description="The alert's id.")]
ProposalIdPath = Annotated[ProposalId, Path(description="The proposal's id.")]
WRITE_ERRORS = error_responses(401, 403, 404, 409, 413, 422)


@router.get(
    "/alerts",
    response_model=Page[Alert],
    tags=["alerts"],
    responses=error_responses(400, 422),
)
async def list_alerts(
    sessions: SessionsDep,
    status: Annotated[AlertStatusName | None, Query()] = None,
    kind: Annotated[Name | None, Query()] = None,
    severity: Annotated[SeverityName | None, Query()] = None,
    rule_id: Annotated[Name | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Alerts newest first, optionally one status, kind, severity or rule."""
    before = decode_cursor("alerts", cursor, (int,))[0] if cursor else None
    async with sessions() as session:
        rows = await alert_actions.list_alerts_page(
            session,
            status=status,
            kind=kind,
            severity=severity,
            rule_id=rule_id,
            before_id=before,
            limit=limit + 1,
        )
    items, next_cursor = page_of("alerts", rows, limit, lambda r: [r["id"]])

    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/alerts/{alert_id}/acknowledge",
    response_model=Alert,
    tags=["alerts"],
    dependencies=MUTATION,
    responses=WRITE_ERRORS,
)
async def acknowledge(
    alert_id: AlertIdPath,
    sessions: SessionsDep,
    now: NowDep,
    x_actor: ActorHeader = None,
    body: NoteBody | None = None,
) -> dict[str, Any]:
    """Mark an open alert as seen; it stays until resolved."""
    body = body or NoteBody()
    actor = actor_of(body.actor, x_actor)
    async with transaction(sessions) as session:
        return await alert_actions.acknowledge_alert(
            session, alert_id, actor=actor, at=now, note=body.note
        )


@router.post(
    "/alerts/{alert_id}/resolve",
    response_model=Alert,
    tags=["alerts"],
    dependencies=MUTATION,
    responses=WRITE_ERRORS,
)
async def resolve(
    alert_id: AlertIdPath,
    sessions: SessionsDep,
    now: NowDep,
    x_actor: ActorHeader = None,
    body: NoteBody | None = None,
) -> dict[str, Any]:
    """Close an open or acknowledged alert."""
    body = body or NoteBody()
    actor = actor_of(body.actor, x_actor)
    async with transaction(sessions) as session:
        return await alert_actions.resolve_alert(
            session, alert_id, actor=actor, at=now, note=body.note
        )


@router.post(
    "/rules/{rule_id}/reviews",
    status_code=201,
    response_model=Review,
    tags=["rules"],
    dependencies=MUTATION,
    responses=WRITE_ERRORS,
)
async def review_rule(
    rule_id: Annotated[Name, Path(description="The rule's id.")],
    body: ReviewBody,
    sessions: SessionsDep,
    now: NowDep,
    x_actor: ActorHeader = None,
) -> dict[str, Any]:
    """Record a review: sets the rule's last review, clears its review request."""
    at = body.at or now
    if at > now:
        detail = f"review time {at.isoformat()} is in the future"
        raise ApiError(422, "rejected", detail)
    actor = actor_of(body.actor, x_actor, body.reviewer)
    async with transaction(sessions) as session:
        try:
            recorded = await record_review(
                session, rule_id, body.reviewer, at, body.note
            )
        except RuleNotFoundError as exc:
            raise ApiError(404, "rule_not_found", str(exc)) from None
        if actor != body.reviewer:
            await record_action(
                session, actor, "submit_review", rule_id, reviewer=body.reviewer
            )

    return {**recorded, "reviewer": body.reviewer, "note": body.note}


@router.get(
    "/feedback/proposals",
    response_model=Page[Proposal],
    tags=["feedback"],
    responses=error_responses(400, 422),
)
async def list_proposals(
    sessions: SessionsDep,
    status: Annotated[ProposalStatusName | None, Query()] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Draft rules proposed by the correction flywheel, by id."""
    after = decode_cursor("proposals", cursor, (str,))[0] if cursor else None
    async with sessions() as session:
        rows = await proposals.list_proposals_page(
            session, status=status, after_id=after, limit=limit + 1
        )
    items, next_cursor = page_of("proposals", rows, limit, lambda r: [r["id"]])

    return {"items": items, "next_cursor": next_cursor}


@router.post(
    "/feedback/proposals/{proposal_id}/approve",
    response_model=Proposal,
    tags=["feedback"],
    dependencies=MUTATION,
    responses=WRITE_ERRORS,
)
async def approve(
    proposal_id: ProposalIdPath,
    body: ReviewerBody,
    sessions: SessionsDep,
    now: NowDep,
    x_actor: ActorHeader = None,
) -> dict[str, Any]:
    """Approve a pending proposal: creates its `experimental` rule, once
    (`rule_id` in the answer); a second approval is refused with 409."""
    actor = actor_of(body.actor, x_actor, body.reviewer)
    async with transaction(sessions) as session:
        return await proposals.approve_proposal(
            session,
            proposal_id,
            reviewer=body.reviewer,
            actor=actor,
            at=now,
            note=body.note,
        )


@router.post(
    "/feedback/proposals/{proposal_id}/dismiss",
    response_model=Proposal,
    tags=["feedback"],
    dependencies=MUTATION,
    responses=WRITE_ERRORS,
)
async def dismiss(
    proposal_id: ProposalIdPath,
    body: ReviewerBody,
    sessions: SessionsDep,
    now: NowDep,
    x_actor: ActorHeader = None,
) -> dict[str, Any]:
    """Dismiss a pending proposal."""
    actor = actor_of(body.actor, x_actor, body.reviewer)
    async with transaction(sessions) as session:
        return await proposals.dismiss_proposal(
            session,
            proposal_id,
            reviewer=body.reviewer,
            actor=actor,
            at=now,
            note=body.note,
        )


@router.post(
    "/norms/{norm_id}/amendments",
    status_code=202,
    response_model=AmendmentResult,
    tags=["norms"],
    dependencies=MUTATION,
    responses={
        200: {"model": AmendmentResult, "description": "Asked before: its run."},
        **WRITE_ERRORS,
    },
)
async def amend_norm(
    norm_id: Annotated[Name, Path(description="The amended norm's id.")],
    body: AmendmentBody,
    client: ClientDep,
    sessions: SessionsDep,
    now: NowDep,
    response: Response,
    x_actor: ActorHeader = None,
) -> dict[str, Any]:
    """Record an amendment (norm, version) and start its propagation: 202 with
    the run, or 200 with the existing run when it was asked for before."""
    actor = actor_of(body.actor, x_actor)
    async with sessions() as session:
        exists = await session.scalar(
            text("SELECT 1 FROM norms WHERE id = :id"), {"id": norm_id}
        )
    if exists is None:
        detail = f"norm {norm_id!r} does not exist; load or import it first"
        raise ApiError(404, "norm_not_found", detail)
    try:
        result = await request_amendment(
            client,
            norm_id=norm_id,
            version=body.version,
            summary=body.summary,
            actor=actor,
            at=now,
            trigger=Trigger.API,
        )
    except RunInProgressError as exc:
        raise await running_error(sessions, exc) from None
    async with sessions() as session:
        run = await run_summary(session, result.run_id)
    response.status_code = 202 if result.created else 200
    response.headers["Location"] = run["url"]

    return {
        "norm_id": norm_id,
        "version": body.version,
        "created": result.created,
        "run": run,
    }
