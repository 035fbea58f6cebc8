"""Runs: history, one run with its steps and attempts, retry, re-run, cancel."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Path, Query, Response, Security

from api.deps import ActorHeader, ClientDep, SessionsDep, actor_of, bearer
from api.errors import error_responses
from api.fields import Instant, Name, StepKey
from api.models import (
    ActorBody,
    RunDetail,
    RunStatusName,
    RunSummary,
    StepDetail,
)
from api.pagination import Cursor, CursorError, Limit, Page, decode_cursor, page_of
from api.picture import PAGE_CSP, SVG_CSP, render_page, render_svg
from api.runs_query import (
    API,
    RunFilter,
    list_run_summaries,
    run_summary,
    run_urls,
)
from orchestrator.errors import StepNotFoundError
from orchestrator.history import get_attempts, get_run, run_edges

router = APIRouter(tags=["runs"])
RunId = Annotated[uuid.UUID, Path(description="The run's id (a UUID).")]
StepKeyPath = Annotated[StepKey, Path(description="The step's key.")]
MUTATION = [Security(bearer)]


def _cursor_key(cursor: str) -> tuple[datetime, uuid.UUID]:
    at, run_id = decode_cursor("runs", cursor, (str, str))
    try:
        return datetime.fromisoformat(at), uuid.UUID(run_id)
    except ValueError:
        msg = f"cursor {cursor[:40]!r} is damaged; start again without a cursor"
        raise CursorError(msg) from None


@router.get(
    "/runs", response_model=Page[RunSummary], responses=error_responses(400, 422)
)
async def list_runs(
    sessions: SessionsDep,
    graph: Annotated[Name | None, Query(description="Only this graph.")] = None,
    status: Annotated[
        RunStatusName | None, Query(description="Only this status.")
    ] = None,
    created_from: Annotated[
        Instant | None, Query(description="created_at ≥ this.")
    ] = None,
    created_to: Annotated[
        Instant | None, Query(description="created_at < this.")
    ] = None,
    logical_time_from: Annotated[
        Instant | None, Query(description="logical_time ≥ this.")
    ] = None,
    logical_time_to: Annotated[
        Instant | None, Query(description="logical_time < this.")
    ] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Run history, newest first (by creation), with step counts by status."""
    before = _cursor_key(cursor) if cursor else None
    where = RunFilter(
        graph, status, created_from, created_to, logical_time_from, logical_time_to
    )
    async with sessions() as session:
        rows = await list_run_summaries(session, where, limit=limit + 1, before=before)
    items, next_cursor = page_of(
        "runs", rows, limit, lambda r: [r["created_at"].isoformat(), r["id"]]
    )

    return {"items": items, "next_cursor": next_cursor}


def _step(run_id: str, step: dict[str, Any]) -> dict[str, Any]:
    return {**step, "url": f"{API}/runs/{run_id}/steps/{quote(step['key'], safe='')}"}


async def _run_detail(sessions: SessionsDep, run_id: uuid.UUID) -> dict[str, Any]:
    async with sessions() as session:
        summary = await run_summary(session, run_id)
        run = await get_run(session, run_id)
        edges = await run_edges(session, run_id)
    return {
        **summary,
        **run_urls(str(run_id)),
        "graph_hash": run["graph_hash"],
        "steps": [_step(str(run_id), s) for s in run["steps"]],
        "edges": edges,
    }


@router.get(
    "/runs/{run_id}", response_model=RunDetail, responses=error_responses(404, 422)
)
async def get_run_detail(run_id: RunId, sessions: SessionsDep) -> dict[str, Any]:
    """A run with each step's state, attempts, duration and last error, its trace
    id, its edges and a link to its picture."""
    return await _run_detail(sessions, run_id)


@router.get(
    "/runs/{run_id}/steps/{step_key}",
    response_model=StepDetail,
    responses=error_responses(404, 422),
)
async def get_step(
    run_id: RunId, step_key: StepKeyPath, sessions: SessionsDep
) -> dict[str, Any]:
    """One step of a run with every attempt, its error and traceback."""
    async with sessions() as session:
        run = await get_run(session, run_id)
        steps = {s["key"]: s for s in run["steps"]}
        if step_key not in steps:
            raise StepNotFoundError(run_id, step_key)
        attempts = await get_attempts(session, run_id, step_key)

    return {
        "run_id": run_id,
        "step": _step(str(run_id), steps[step_key]),
        "attempts": attempts,
    }


async def _after_action(sessions: SessionsDep, run_id: uuid.UUID) -> dict[str, Any]:
    async with sessions() as session:
        return await run_summary(session, run_id)


@router.post(
    "/runs/{run_id}/steps/{step_key}/retry",
    status_code=202,
    response_model=RunSummary,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def retry_step(
    run_id: RunId,
    step_key: StepKeyPath,
    client: ClientDep,
    sessions: SessionsDep,
    x_actor: ActorHeader = None,
    body: ActorBody | None = None,
) -> dict[str, Any]:
    """Retry one failed step with a fresh budget; succeeded steps keep their
    outputs and its upstream-failed descendants run again after it."""
    actor = actor_of(body.actor if body else None, x_actor)
    await client.retry(run_id, step_key, actor)

    return await _after_action(sessions, run_id)


@router.post(
    "/runs/{run_id}/steps/{step_key}/rerun",
    status_code=202,
    response_model=RunSummary,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def rerun_step(
    run_id: RunId,
    step_key: StepKeyPath,
    client: ClientDep,
    sessions: SessionsDep,
    x_actor: ActorHeader = None,
    body: ActorBody | None = None,
) -> dict[str, Any]:
    """Run a succeeded step and all its descendants again (its inputs changed)."""
    actor = actor_of(body.actor if body else None, x_actor)
    await client.rerun(run_id, step_key, actor)

    return await _after_action(sessions, run_id)


@router.post(
    "/runs/{run_id}/cancel",
    response_model=RunSummary,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def cancel_run(
    run_id: RunId,
    client: ClientDep,
    sessions: SessionsDep,
    x_actor: ActorHeader = None,
    body: ActorBody | None = None,
) -> dict[str, Any]:
    """Cancel a run in progress: waiting steps at once, running ones when they
    next commit."""
    actor = actor_of(body.actor if body else None, x_actor)
    await client.cancel(run_id, actor)

    return await _after_action(sessions, run_id)


async def _picture_data(
    sessions: SessionsDep, run_id: uuid.UUID
) -> tuple[dict[str, Any], list[tuple[str, str]]]:
    async with sessions() as session:
        run = await get_run(session, run_id)
        edges = await run_edges(session, run_id)
    return run, edges


@router.get(
    "/runs/{run_id}/graph.svg",
    response_class=Response,
    responses={
        200: {"content": {"image/svg+xml": {}}, "description": "The run as SVG."},
        **error_responses(404, 422),
    },
)
async def run_picture(run_id: RunId, sessions: SessionsDep) -> Response:
    """The run's graph as an SVG, each step coloured by its state."""
    run, edges = await _picture_data(sessions, run_id)
    return Response(
        render_svg(run, edges),
        media_type="image/svg+xml",
        headers={"Content-Security-Policy": SVG_CSP, "Cache-Control": "no-store"},
    )


@router.get(
    "/runs/{run_id}/graph",
    response_class=Response,
    responses={
        200: {"content": {"text/html": {}}, "description": "A page with the picture."},
        **error_responses(404, 422),
    },
)
async def run_page(run_id: RunId, sessions: SessionsDep) -> Response:
    """An HTML page with the run's picture, a legend and the failed steps' errors;
    it refreshes itself every 5 s while the run is in progress."""
    run, edges = await _picture_data(sessions, run_id)
    return Response(
        render_page(run, edges),
        media_type="text/html",
        headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"},
    )
