"""Graphs: definitions and schedules, manual runs, pause, resume and backfill."""

from __future__ import annotations

import itertools
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Path, Response, Security

from api.deps import (
    ActorHeader,
    ClientDep,
    GraphsDep,
    NowDep,
    SessionsDep,
    ZoneDep,
    actor_of,
    bearer,
)
from api.errors import ApiError, error_responses
from api.fields import Name
from api.models import (
    ActorBody,
    BackfillBody,
    BackfillResult,
    GraphDetail,
    GraphSummary,
    RunRef,
    RunSummary,
    TriggerBody,
)
from api.pagination import Cursor, Limit, Page, decode_cursor, page_of
from api.runs_query import API, run_summary
from orchestrator import schedules
from orchestrator.errors import RunInProgressError, UnknownGraphError
from orchestrator.graph import Graph
from orchestrator.states import Trigger

logger = logging.getLogger(__name__)

router = APIRouter(tags=["graphs"])
GraphName = Annotated[Name, Path(description="The graph's name.")]
MUTATION = [Security(bearer)]
# Each slot is one run started in its own transaction; a request of 100 slots
# answers within a few seconds, and a longer range is split by the caller.
MAX_BACKFILL_SLOTS = 100


def _graph(graphs: Mapping[str, Graph], name: str) -> Graph:
    if name not in graphs:
        raise UnknownGraphError(name, list(graphs))
    return graphs[name]


def _schedule(
    graph: Graph,
    zone: ZoneInfo,
    state: schedules.ScheduleState | None,
    now: datetime,
) -> dict[str, Any]:
    if graph.schedule is None:
        return {
            "schedule": None,
            "timezone": None,
            "paused": False,
            "next_slot": None,
            "last_slot": None,
        }
    return {
        "schedule": graph.schedule,
        "timezone": zone.key,
        "paused": bool(state and state.paused),
        "next_slot": schedules.next_slot(graph.schedule, zone, now),
        "last_slot": state.last_slot_at if state else None,
    }


def _summary(
    graph: Graph, zone: ZoneInfo, state: schedules.ScheduleState | None, now: datetime
) -> dict[str, Any]:
    return {
        "name": graph.name,
        "description": graph.description,
        "step_count": len(graph.steps),
        "max_active_runs": graph.max_active_runs,
        "url": f"{API}/graphs/{graph.name}",
        **_schedule(graph, zone, state, now),
    }


@router.get(
    "/graphs", response_model=Page[GraphSummary], responses=error_responses(400, 422)
)
async def list_graphs(
    graphs: GraphsDep,
    sessions: SessionsDep,
    zone: ZoneDep,
    now: NowDep,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Every graph by name, with its schedule, whether it is paused and its next slot."""
    after = decode_cursor("graphs", cursor, (str,))[0] if cursor else None
    names = sorted(n for n in graphs if after is None or n > after)[: limit + 1]
    states = await schedules.schedule_states(sessions)
    rows = [_summary(graphs[n], zone, states.get(n), now) for n in names]
    items, next_cursor = page_of("graphs", rows, limit, lambda r: [r["name"]])

    return {"items": items, "next_cursor": next_cursor}


async def _detail(
    graph: Graph, sessions: SessionsDep, zone: ZoneInfo, now: datetime
) -> dict[str, Any]:
    states = await schedules.schedule_states(sessions)
    definition = graph.definition()
    return {
        **_summary(graph, zone, states.get(graph.name), now),
        "definition_hash": graph.definition_hash,
        "params": graph.params_schema,
        "future_logical_time": graph.future_logical_time,
        "steps": definition["steps"],
        "edges": [tuple(e) for e in graph.edges],
    }


@router.get(
    "/graphs/{name}", response_model=GraphDetail, responses=error_responses(404, 422)
)
async def get_graph(
    name: GraphName,
    graphs: GraphsDep,
    sessions: SessionsDep,
    zone: ZoneDep,
    now: NowDep,
) -> dict[str, Any]:
    """A graph's steps, edges, retry policies, timeouts and schedule."""
    return await _detail(_graph(graphs, name), sessions, zone, now)


async def running_error(sessions: SessionsDep, exc: RunInProgressError) -> ApiError:
    async with sessions() as session:
        running = [await run_summary(session, run_id) for run_id in exc.running]
    return ApiError(409, "run_in_progress", str(exc), running=running)


@router.post(
    "/graphs/{name}/runs",
    status_code=202,
    response_model=RunSummary,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def trigger_run(
    name: GraphName,
    client: ClientDep,
    sessions: SessionsDep,
    now: NowDep,
    response: Response,
    x_actor: ActorHeader = None,
    body: TriggerBody | None = None,
) -> dict[str, Any]:
    """Start a run (202 with the run); 409 with the running run at the limit."""
    body = body or TriggerBody()
    actor = actor_of(body.actor, x_actor)
    graph = _graph(client.graphs, name)
    try:
        result = await client.trigger(
            graph.name,
            logical_time=body.logical_time or now,
            trigger=Trigger.API,
            actor=actor,
            params=body.params or {},
        )
    except RunInProgressError as exc:
        raise await running_error(sessions, exc) from None
    async with sessions() as session:
        run = await run_summary(session, result.run_id)
    response.headers["Location"] = run["url"]

    return run


def _scheduled(graphs: Mapping[str, Graph], name: str) -> Graph:
    graph = _graph(graphs, name)
    if graph.schedule is None:
        detail = f"graph {name!r} has no schedule; only scheduled graphs can do this"
        raise ApiError(409, "no_schedule", detail)
    return graph


@router.post(
    "/graphs/{name}/pause",
    response_model=GraphDetail,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def pause(
    name: GraphName,
    graphs: GraphsDep,
    sessions: SessionsDep,
    zone: ZoneDep,
    now: NowDep,
    x_actor: ActorHeader = None,
    body: ActorBody | None = None,
) -> dict[str, Any]:
    """Stop the graph's schedule from starting runs; runs in progress go on."""
    graph = _scheduled(graphs, name)
    actor = actor_of(body.actor if body else None, x_actor)
    await schedules.pause_schedule(sessions, graph, actor)

    return await _detail(graph, sessions, zone, now)


@router.post(
    "/graphs/{name}/resume",
    response_model=GraphDetail,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def resume(
    name: GraphName,
    graphs: GraphsDep,
    sessions: SessionsDep,
    zone: ZoneDep,
    now: NowDep,
    x_actor: ActorHeader = None,
    body: ActorBody | None = None,
) -> dict[str, Any]:
    """Let a paused schedule start runs again (missed slots are not run)."""
    graph = _scheduled(graphs, name)
    actor = actor_of(body.actor if body else None, x_actor)
    await schedules.resume_schedule(sessions, graph, actor)

    return await _detail(graph, sessions, zone, now)


def _check_range(
    graph: Graph, zone: ZoneInfo, body: BackfillBody, now: datetime
) -> None:
    assert graph.schedule is not None
    if body.end < body.start:
        detail = f"backfill range ends ({body.end.isoformat()}) before it starts"
        raise ApiError(422, "rejected", detail)
    if body.end > now:
        detail = "backfill range must not reach into the future"
        raise ApiError(422, "rejected", detail)
    # Count lazily so that a range of centuries is refused without walking it.
    slots = schedules.iter_slots(
        graph.schedule, zone, body.start - timedelta(microseconds=1), body.end
    )
    limit = MAX_BACKFILL_SLOTS
    if sum(1 for _ in itertools.islice(slots, limit + 1)) > limit:
        detail = (
            f"the range holds more than {limit:,} slots of {graph.name!r}; "
            f"backfill at most {limit:,} at a time"
        )
        raise ApiError(422, "rejected", detail)


@router.post(
    "/graphs/{name}/backfill",
    status_code=202,
    response_model=BackfillResult,
    dependencies=MUTATION,
    responses=error_responses(401, 403, 404, 409, 413, 422),
)
async def backfill(
    name: GraphName,
    body: BackfillBody,
    client: ClientDep,
    sessions: SessionsDep,
    zone: ZoneDep,
    now: NowDep,
    x_actor: ActorHeader = None,
) -> dict[str, Any]:
    """Run every slot of the schedule in [from, to] that has no run yet (at most
    100 slots per request)."""
    graph = _scheduled(client.graphs, name)
    actor = actor_of(body.actor, x_actor)
    _check_range(graph, zone, body, now)
    results = await schedules.backfill(
        sessions, client.enqueue, graph, zone, body.start, body.end, actor
    )
    refs: list[RunRef] = []
    async with sessions() as session:
        for result in results:
            run = await run_summary(session, result.run_id)
            refs.append(RunRef.model_validate(run))
    created = sum(1 for r in results if r.created)
    logger.info(
        "backfill of %s: %d slots, %d new runs",
        graph.name,
        len(results),
        created,
        extra={"event": "api.backfill", "graph_name": graph.name},
    )

    return {
        "graph": graph.name,
        "slots": len(results),
        "created": created,
        "runs": refs,
    }
