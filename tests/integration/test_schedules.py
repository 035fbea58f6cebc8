"""Schedules ticked by real workers: one run per slot, catch-up, pause, backfill."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.errors import GraphValidationError
from orchestrator.graph import Graph, Step, task
from orchestrator.schedules import backfill, pause_schedule, resume_schedule, tick
from tests.support.engine import Harness, harness, wait_for

BERLIN = ZoneInfo("Europe/Berlin")


@task("test_sched_noop")
async def noop(ctx: StepContext) -> dict[str, str]:
    return {"slot": ctx.logical_time.isoformat()}


EVERY_SECOND = Graph(
    "every_second", [Step("tick", noop)], schedule="* * * * * *", max_active_runs=100
)
DAILY_BERLIN = Graph("daily_berlin", [Step("tick", noop)], schedule="30 2 * * *")
DAILY_UTC = Graph("daily_utc", [Step("tick", noop)], schedule="0 2 * * *")
GRAPHS = {g.name: g for g in (EVERY_SECOND, DAILY_BERLIN, DAILY_UTC)}


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness(GRAPHS, db_url, redis_url, queue_name) as hh:
        yield hh


async def _slots(h: Harness, graph: str) -> list[datetime]:
    async with h.client.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT logical_time FROM runs WHERE graph_name = :g"
                " AND trigger = 'schedule' ORDER BY logical_time"
            ),
            {"g": graph},
        )
        return [r[0] for r in rows]


async def _start(h: Harness, graphs: dict[str, Graph], n: int = 1) -> None:
    for _ in range(n):
        await h.start_worker(graphs=graphs, tick_every_second=True)


async def test_three_workers_make_one_run_per_slot(h: Harness) -> None:
    """Three workers ticking every second start each one-second slot exactly once."""
    await _start(h, {"every_second": EVERY_SECOND}, n=3)

    await wait_for(lambda: _enough(h, 11), timeout_s=40, every_s=0.2)
    await pause_schedule(h.client.sessions, EVERY_SECOND, actor="test")
    await asyncio.sleep(1.5)
    await h.stop_workers()

    slots = await _slots(h, "every_second")
    assert len(slots) >= 10
    assert len(set(slots)) == len(slots)
    steps = [(b - a).total_seconds() for a, b in itertools.pairwise(slots)]
    assert steps == [1.0] * (len(slots) - 1)


async def _enough(h: Harness, n: int) -> bool:
    return len(await _slots(h, "every_second")) >= n


async def test_new_installation_runs_nothing_on_first_start(h: Harness) -> None:
    """A first start records its tick and runs no past slot, however recent."""
    await _start(h, {"daily_utc": DAILY_UTC})
    await asyncio.sleep(2.5)

    assert await _slots(h, "daily_utc") == []
    async with h.client.sessions() as s:
        first = await s.scalar(
            text("SELECT first_tick_at FROM schedules WHERE graph_name = 'daily_utc'")
        )
    assert first is not None


async def test_catch_up_runs_most_recent_missed_slot_once(h: Harness) -> None:
    """Slots missed while no worker ran: only the most recent runs, once, at start."""
    await _start(h, {"every_second": EVERY_SECOND})
    await wait_for(lambda: _enough(h, 2), timeout_s=20, every_s=0.2)
    await h.stop_workers()
    before = await _slots(h, "every_second")
    stopped_at = datetime.now(UTC)
    await asyncio.sleep(3.5)

    restart = datetime.now(UTC)
    await _start(h, {"every_second": EVERY_SECOND})
    await asyncio.sleep(0.3)
    await pause_schedule(h.client.sessions, EVERY_SECOND, actor="test")
    await h.stop_workers()

    after = await _slots(h, "every_second")
    missed = [s for s in after if before[-1] < s <= restart]
    assert len(missed) == 1
    assert missed[0] >= stopped_at.replace(microsecond=0) + timedelta(seconds=2)


async def test_dst_days_neither_skip_nor_double_daily_slot(h: Harness) -> None:
    """Ticking hourly across both 2026 change days starts one run per local day."""
    enqueue = h.client.enqueue
    graphs = {"daily_berlin": DAILY_BERLIN}
    start = datetime(2026, 3, 27, 12, tzinfo=UTC)
    await tick(h.client.sessions, enqueue, graphs, BERLIN, now=start)
    for day_start in (start, datetime(2026, 10, 23, 12, tzinfo=UTC)):
        for hour in range(0, 4 * 24, 1):
            now = day_start + timedelta(hours=hour, minutes=7)
            await tick(
                h.client.sessions,
                enqueue,
                graphs,
                BERLIN,
                now=now,
                catchup=timedelta(days=400),
            )
            await _finish_all(h)

    slots = await _slots(h, "daily_berlin")
    spring = [s for s in slots if s.month == 3]
    autumn = [s for s in slots if s.month == 10]
    assert [s.astimezone(BERLIN).strftime("%d %H:%M") for s in spring] == [
        "28 02:30",
        "29 03:00",
        "30 02:30",
        "31 02:30",
    ]
    # The first tick of the autumn block catches up on the 23rd's slot.
    assert [s.astimezone(BERLIN).strftime("%d %H:%M") for s in autumn] == [
        "23 02:30",
        "24 02:30",
        "25 02:30",
        "26 02:30",
        "27 02:30",
    ]
    assert autumn[2] == datetime(2026, 10, 25, 0, 30, tzinfo=UTC)


async def _finish_all(h: Harness) -> None:
    """Mark runs done so the one-run-at-a-time limit never skips a slot here."""
    async with h.client.sessions() as s, s.begin():
        await s.execute(
            text(
                "UPDATE runs SET status = 'succeeded' WHERE status IN ('pending', 'running')"
            )
        )


async def test_paused_schedule_starts_nothing_and_resume_skips_paused_slots(
    h: Harness,
) -> None:
    """A paused schedule starts no run; resuming does not run the paused slots."""
    await pause_schedule(h.client.sessions, EVERY_SECOND, actor="ops")
    await _start(h, {"every_second": EVERY_SECOND})
    await asyncio.sleep(2.5)
    assert await _slots(h, "every_second") == []

    resumed_at = datetime.now(UTC)
    await resume_schedule(h.client.sessions, EVERY_SECOND, actor="ops")
    await wait_for(lambda: _enough(h, 1), timeout_s=10, every_s=0.2)

    assert min(await _slots(h, "every_second")) > resumed_at - timedelta(seconds=1)
    async with h.client.sessions() as s:
        actions = (
            await s.execute(text("SELECT actor, action FROM actions ORDER BY id"))
        ).all()
    assert [tuple(a) for a in actions] == [("ops", "pause"), ("ops", "resume")]


async def test_backfill_runs_each_missing_slot_once(h: Harness) -> None:
    """Backfilling a range starts one run per slot; again, it starts none."""
    start = datetime(2026, 11, 1, tzinfo=UTC)
    end = datetime(2026, 11, 5, 23, tzinfo=UTC)

    first = await backfill(
        h.client.sessions,
        h.client.enqueue,
        DAILY_UTC,
        ZoneInfo("UTC"),
        start,
        end,
        "ops",
    )
    again = await backfill(
        h.client.sessions,
        h.client.enqueue,
        DAILY_UTC,
        ZoneInfo("UTC"),
        start,
        end,
        "ops",
    )

    assert [r.created for r in first] == [True] * 5
    assert [r.created for r in again] == [False] * 5
    assert [s.day for s in await _slots(h, "daily_utc")] == [1, 2, 3, 4, 5]
    with pytest.raises(GraphValidationError, match="future"):
        await backfill(
            h.client.sessions,
            h.client.enqueue,
            DAILY_UTC,
            ZoneInfo("UTC"),
            start,
            datetime.now(UTC) + timedelta(days=2),
            "ops",
        )
