"""Schedules: cron slots in a time zone, ticked by the workers, one run per slot.

Slots are computed from a graph's cron expression (five fields, or six with a
trailing seconds field, see :func:`parse_cron`) in ``SCHEDULE_TIMEZONE`` and stored as UTC
instants. On daylight-saving days:

* a local time that does not exist (spring forward) maps to the first instant
  after the gap, so a daily 02:30 in Europe/Berlin runs at 03:00 local;
* a repeated local time (fall back) maps to its first occurrence, so a daily slot
  runs once; a schedule that fires every hour also fires on the second
  occurrence, so it fires on every UTC hour.

Every worker ticks every schedule (arq cron, once a minute by default). A tick
starts each slot that is due, not yet started, after the schedule's first
recorded tick (a new installation fires nothing at once) and within the catch-up
window. When a worker starts, it first catches up: only the most recent missed
slot of each schedule runs, once; older missed slots are left to an explicit
backfill.
However many workers tick the same slot, the unique index on (graph, logical
time) of scheduled runs lets only one run exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from croniter import croniter
from opentelemetry.trace import TracerProvider
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator import engine
from orchestrator.db import transaction
from orchestrator.errors import (
    GraphValidationError,
    RunInProgressError,
    UnknownGraphError,
)
from orchestrator.graph import Graph
from orchestrator.states import Trigger

logger = logging.getLogger(__name__)

MAX_BACKFILL_SLOTS = 1_000
# A regular tick starts every due slot; past this many it starts only the latest.
MAX_SLOTS_PER_TICK = 60


def parse_cron(expression: str) -> str:
    """Validate a cron expression (5 fields, or 6 with a trailing seconds field)."""
    fields = expression.split()
    if len(fields) not in (5, 6) or not croniter.is_valid(expression):
        msg = (
            f"{expression!r} is not a valid cron expression; use five fields "
            "'minute hour day-of-month month day-of-week' (e.g. '30 3 * * *')"
        )
        raise GraphValidationError(msg)
    return expression


def _fires_every_hour(expression: str) -> bool:
    return expression.split()[1] == "*"


def _gap_end(local: datetime, zone: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first UTC instant in ``[lo, hi]`` whose wall time is at or past ``local``."""
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) >= local:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def slot_instants(local: datetime, zone: ZoneInfo, every_hour: bool) -> list[datetime]:
    """The UTC instants a matching local wall time stands for."""
    first = local.replace(tzinfo=zone, fold=0)
    second = local.replace(tzinfo=zone, fold=1)
    utc_first, utc_second = first.astimezone(UTC), second.astimezone(UTC)
    roundtrip = utc_first.astimezone(zone).replace(tzinfo=None)
    if roundtrip != local:
        # A wall time in a gap: its two readings (with the offsets before and
        # after the gap) bracket the transition, the first instant after the gap.
        lo, hi = sorted((utc_first, utc_second))
        return [_gap_end(local, zone, lo, hi)]
    if utc_first != utc_second and every_hour:
        return [utc_first, utc_second]
    return [utc_first]


def iter_slots(
    expression: str, zone: ZoneInfo, start: datetime, end: datetime
) -> Iterator[datetime]:
    """Slots (UTC) with ``start < slot <= end``, in order, without duplicates."""
    every_hour = _fires_every_hour(expression)
    local_start = (start.astimezone(zone) - timedelta(hours=3)).replace(tzinfo=None)
    it = croniter(expression, local_start)
    last: datetime | None = None
    while True:
        local = it.get_next(datetime)
        for instant in slot_instants(local, zone, every_hour):
            if instant <= start or (last is not None and instant <= last):
                continue
            if instant > end:
                return
            last = instant
            yield instant
        if local.replace(tzinfo=zone).astimezone(UTC) > end + timedelta(hours=3):
            return


def latest_slot(expression: str, zone: ZoneInfo, at: datetime) -> datetime | None:
    """The most recent slot at or before ``at`` (looking back up to 400 days)."""
    found = None
    window = timedelta(days=1)
    while window <= timedelta(days=400) and found is None:
        for slot in iter_slots(expression, zone, at - window, at):
            found = slot
        window *= 4
    return found


def next_slot(expression: str, zone: ZoneInfo, after: datetime) -> datetime:
    """The first slot strictly after ``after``."""
    window = timedelta(days=1)
    while True:
        for slot in iter_slots(expression, zone, after, after + window):
            return slot
        window *= 4


@dataclass(frozen=True)
class ScheduleState:
    """A schedule's persistent state."""

    graph_name: str
    paused: bool
    first_tick_at: datetime | None
    last_slot_at: datetime | None


async def schedule_states(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[str, ScheduleState]:
    """Every recorded schedule's state, by graph name."""
    async with sessions() as session:
        rows = await session.execute(
            text(
                "SELECT graph_name, paused, first_tick_at, last_slot_at FROM schedules"
            )
        )
        return {r[0]: ScheduleState(r[0], r[1], r[2], r[3]) for r in rows}


async def _set_paused(
    sessions: async_sessionmaker[AsyncSession],
    graph: Graph,
    actor: str,
    paused: bool,
) -> None:
    if graph.schedule is None:
        msg = f"graph {graph.name!r} has no schedule to pause or resume"
        raise GraphValidationError(msg)
    async with transaction(sessions) as session:
        await session.execute(
            text(
                """
                INSERT INTO schedules (graph_name, paused, updated_by, updated_at,
                                       last_slot_at)
                VALUES (:g, :paused, :actor, clock_timestamp(), :now)
                ON CONFLICT (graph_name) DO UPDATE SET paused = :paused,
                    updated_by = :actor, updated_at = clock_timestamp(),
                    last_slot_at = CASE WHEN :paused THEN schedules.last_slot_at
                                        ELSE greatest(schedules.last_slot_at, :now)
                                   END
                """
            ),
            {
                "g": graph.name,
                "paused": paused,
                "actor": actor,
                "now": datetime.now(UTC),
            },
        )
        await engine.record_action(
            session, actor, "pause" if paused else "resume", graph.name
        )


async def pause_schedule(
    sessions: async_sessionmaker[AsyncSession], graph: Graph, actor: str
) -> None:
    """Stop a graph's schedule from starting runs (runs in progress go on)."""
    await _set_paused(sessions, graph, actor, True)


async def resume_schedule(
    sessions: async_sessionmaker[AsyncSession], graph: Graph, actor: str
) -> None:
    """Start a paused schedule again; slots that fell while it was paused are not
    run (backfill them if they are wanted)."""
    await _set_paused(sessions, graph, actor, False)


async def backfill(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: engine.Enqueue,
    graph: Graph,
    zone: ZoneInfo,
    start: datetime,
    end: datetime,
    actor: str,
    *,
    tracer_provider: TracerProvider | None = None,
) -> list[engine.TriggerResult]:
    """Run every slot of the schedule in ``[start, end]`` that has no run yet.

    Backfilled runs are scheduled runs of their slots (so a slot still runs at
    most once) and are started together, past the graph's ``max_active_runs``.

    Raises:
        GraphValidationError: no schedule, a reversed or zone-less range, a range
            in the future, or more than 1,000 slots.
    """
    if graph.schedule is None:
        msg = f"graph {graph.name!r} has no schedule to backfill"
        raise GraphValidationError(msg)
    if start.tzinfo is None or end.tzinfo is None:
        msg = "backfill bounds must carry a time zone (e.g. 2026-11-01T00:00Z)"
        raise GraphValidationError(msg)
    if end < start:
        msg = f"backfill range ends ({end.isoformat()}) before it starts"
        raise GraphValidationError(msg)
    if end > datetime.now(UTC):
        msg = "backfill range must not reach into the future"
        raise GraphValidationError(msg)
    slots = list(
        iter_slots(graph.schedule, zone, start - timedelta(microseconds=1), end)
    )
    if len(slots) > MAX_BACKFILL_SLOTS:
        msg = (
            f"the range holds {len(slots):,} slots of {graph.name!r}; backfill at "
            f"most {MAX_BACKFILL_SLOTS:,} at a time"
        )
        raise GraphValidationError(msg)
    results = [
        await engine.trigger_run(
            sessions,
            enqueue,
            graph,
            logical_time=slot,
            trigger=Trigger.SCHEDULE,
            actor=actor,
            ignore_concurrency=True,
            tracer_provider=tracer_provider,
        )
        for slot in slots
    ]
    async with transaction(sessions) as session:
        await engine.record_action(
            session,
            actor,
            "backfill",
            graph.name,
            start=start.isoformat(),
            end=end.isoformat(),
            slots=len(slots),
        )
    return results


async def tick(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: engine.Enqueue,
    graphs: Mapping[str, Graph],
    zone: ZoneInfo,
    *,
    now: datetime | None = None,
    catchup: timedelta = timedelta(hours=24),
    only_latest: bool = False,
    tracer_provider: TracerProvider | None = None,
) -> list[engine.TriggerResult]:
    """Start the due slots of every schedule (see the module docstring).

    Args:
        only_latest: start only the most recent due slot of each schedule (the
            catch-up a worker does when it starts).
        tracer_provider: traces the runs started (each its own trace).
    """
    now = now or datetime.now(UTC)
    started: list[engine.TriggerResult] = []
    for graph in graphs.values():
        if graph.schedule is None:
            continue
        started += await _tick_one(
            sessions, enqueue, graph, zone, now, catchup, only_latest, tracer_provider
        )
    return started


async def _tick_one(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: engine.Enqueue,
    graph: Graph,
    zone: ZoneInfo,
    now: datetime,
    catchup: timedelta,
    only_latest: bool,
    tracer_provider: TracerProvider | None = None,
) -> list[engine.TriggerResult]:
    if graph.schedule is None:
        return []
    async with transaction(sessions) as session:
        row = (
            await session.execute(
                text(
                    """
                    INSERT INTO schedules (graph_name, paused, first_tick_at)
                    VALUES (:g, false, :now)
                    ON CONFLICT (graph_name) DO UPDATE
                        SET first_tick_at = coalesce(schedules.first_tick_at, :now)
                    RETURNING paused, first_tick_at, last_slot_at
                    """
                ),
                {"g": graph.name, "now": now},
            )
        ).one()
    paused, first_tick_at, last_slot_at = row
    if paused:
        return []
    floor = max(
        t for t in (first_tick_at, last_slot_at, now - catchup) if t is not None
    )
    due = list(iter_slots(graph.schedule, zone, floor, now))
    if len(due) > MAX_SLOTS_PER_TICK or only_latest:
        due = due[-1:]
    started = [
        await _start_slot(sessions, enqueue, graph, slot, tracer_provider)
        for slot in due
    ]
    return [r for r in started if r is not None]


async def _start_slot(
    sessions: async_sessionmaker[AsyncSession],
    enqueue: engine.Enqueue,
    graph: Graph,
    slot: datetime,
    tracer_provider: TracerProvider | None = None,
) -> engine.TriggerResult | None:
    result: engine.TriggerResult | None = None
    try:
        result = await engine.trigger_run(
            sessions,
            enqueue,
            graph,
            logical_time=slot,
            trigger=Trigger.SCHEDULE,
            actor="schedule",
            tracer_provider=tracer_provider,
        )
    except RunInProgressError as exc:
        logger.warning(
            "skipped slot %s of %s: a run is still in progress (%s)",
            slot.isoformat(),
            graph.name,
            ", ".join(str(r) for r in exc.running),
            extra={"event": "schedule.skipped", "graph_name": graph.name},
        )
    async with transaction(sessions) as session:
        await session.execute(
            text(
                "UPDATE schedules SET last_slot_at = greatest(last_slot_at, :slot)"
                " WHERE graph_name = :g"
            ),
            {"g": graph.name, "slot": slot},
        )
    return result if result is not None and result.created else None


def graph_or_error(graphs: Mapping[str, Graph], name: str) -> Graph:
    try:
        return graphs[name]
    except KeyError:
        raise UnknownGraphError(name, list(graphs)) from None


def describe(
    graph: Graph, zone: ZoneInfo, state: ScheduleState | None, now: datetime
) -> dict[str, Any]:
    """A schedule as listings show it: expression, zone, paused, next slot."""
    if graph.schedule is None:
        return {"schedule": None, "paused": False, "next_slot": None}
    return {
        "schedule": graph.schedule,
        "timezone": zone.key,
        "paused": bool(state and state.paused),
        "next_slot": next_slot(graph.schedule, zone, now).isoformat(),
        "last_slot": state.last_slot_at.isoformat()
        if state and state.last_slot_at
        else None,
    }
