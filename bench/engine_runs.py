"""Triggering runs of the engine and reading their timings back.

Times are wall-clock seconds since the epoch: the benchmark's ``time.time()``
and PostgreSQL's ``clock_timestamp()`` read the same clock on one machine.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text

from orchestrator.client import Orchestrator
from orchestrator.graph import Graph
from orchestrator.states import RUN_TERMINAL, Trigger

T = datetime(2026, 11, 30, 5, tzinfo=UTC)


class RunFailedError(RuntimeError):
    """A benchmark run did not succeed, so its timings mean nothing."""


@dataclass(frozen=True)
class RunTiming:
    """When a run was asked for, when the trigger returned, when it finished."""

    run_id: uuid.UUID
    asked_at: float
    triggered_at: float
    finished_at: float

    @property
    def elapsed_s(self) -> float:
        return self.finished_at - self.asked_at


def client(
    scratch_database_url: str, redis_url: str, queue: str, *graphs: Graph
) -> Orchestrator:
    """An orchestrator client for the benchmark's graphs (no tracing)."""
    return Orchestrator(
        {g.name: g for g in graphs}, scratch_database_url, redis_url, queue
    )


_STATUS = "SELECT status, extract(epoch FROM finished_at) FROM runs WHERE id = $1"


async def wait_finished(
    orchestrator: Orchestrator,
    run_id: uuid.UUID,
    *,
    timeout_s: float,
    every_s: float = 0.02,
) -> float:
    """Wait for the run to succeed; returns when it finished (epoch seconds).

    The time is the run's own ``finished_at``, so the poll's interval bounds
    only when this returns. The poll holds one driver connection and sends one
    prepared statement: the process measuring should take as little CPU as it
    can from the one measured (plain arq's counterpart polls Redis every 5 ms).

    Raises:
        RunFailedError: the run ended in another state.
    """
    async with orchestrator.engine.connect() as conn, asyncio.timeout(timeout_s):
        driver = (await conn.get_raw_connection()).driver_connection
        assert driver is not None
        while True:
            status, finished = await driver.fetchrow(_STATUS, run_id)
            if status in RUN_TERMINAL:
                break
            await asyncio.sleep(every_s)
    if status != "succeeded":
        msg = f"benchmark run {run_id} ended {status}; see `rulerepo show {run_id}`"
        raise RunFailedError(msg)

    return float(finished)


async def run_once(
    orchestrator: Orchestrator,
    graph: Graph,
    *,
    timeout_s: float,
    params: dict[str, Any] | None = None,
    every_s: float = 0.02,
) -> RunTiming:
    """Trigger one run of ``graph`` and wait for it to succeed."""
    asked = time.time()
    result = await orchestrator.trigger(
        graph.name, logical_time=T, trigger=Trigger.CLI, actor="bench", params=params
    )
    triggered = time.time()
    finished = await wait_finished(
        orchestrator, result.run_id, timeout_s=timeout_s, every_s=every_s
    )

    return RunTiming(result.run_id, asked, triggered, finished)


async def outputs(orchestrator: Orchestrator, run_id: uuid.UUID) -> dict[str, Any]:
    """Each step's output, by step key."""
    async with orchestrator.sessions() as session:
        rows = await session.execute(
            text("SELECT step_key, output FROM step_runs WHERE run_id = :run"),
            {"run": run_id},
        )
        return {key: output for key, output in rows}


async def attempt_times(
    orchestrator: Orchestrator, run_id: uuid.UUID
) -> dict[str, tuple[float, float]]:
    """Each step's last attempt: started and finished (epoch seconds)."""
    async with orchestrator.sessions() as session:
        rows = await session.execute(
            text(
                """
                SELECT DISTINCT ON (step_key) step_key,
                       extract(epoch FROM started_at), extract(epoch FROM finished_at)
                FROM attempts WHERE run_id = :run
                ORDER BY step_key, attempt DESC
                """
            ),
            {"run": run_id},
        )
        return {key: (float(s), float(f)) for key, s, f in rows}


async def step_count(orchestrator: Orchestrator, run_id: uuid.UUID) -> int:
    """How many steps the run has (expanded ones included)."""
    async with orchestrator.sessions() as session:
        count = await session.scalar(
            text("SELECT count(*) FROM step_runs WHERE run_id = :run"),
            {"run": run_id},
        )

    return int(count or 0)
