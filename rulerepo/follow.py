"""Trigger a run, optionally run a worker in this process, and follow it live."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any

from rich.console import Console
from rich.live import Live

from orchestrator.client import Orchestrator
from orchestrator.engine import TriggerResult
from orchestrator.executor import OrchestratorWorker
from orchestrator.history import get_run
from orchestrator.states import RUN_TERMINAL
from rulerepo import app as composition
from rulerepo import views


async def trigger_and_follow(
    deployment: composition.Deployment,
    trigger: Callable[[Orchestrator], Awaitable[TriggerResult]],
    *,
    wait: bool,
    with_worker: bool,
    as_json: bool,
) -> str:
    """Start the run (or find the existing one) and return its status."""
    console = Console(stderr=as_json)
    async with composition.client(deployment) as client:
        result = await trigger(client)
        verb = "started" if result.created else "already exists:"
        console.print(f"run {verb} [bold]{result.run_id}[/bold]")
        worker = None
        task: asyncio.Task[None] | None = None
        if with_worker:
            worker = composition.worker(deployment, handle_signals=False)
            task = asyncio.create_task(worker.main())
        try:
            status = result.status
            if wait:
                status = await _follow(client, result, console, live=not as_json)
            if as_json:
                async with client.sessions() as session:
                    run = await get_run(session, result.run_id)
                sys.stdout.write(json.dumps(views.run_json(run), indent=2) + "\n")
            return status
        finally:
            if worker is not None and task is not None:
                await _stop(worker, task)


async def _follow(
    client: Orchestrator, result: TriggerResult, console: Console, *, live: bool
) -> str:
    async def snapshot() -> dict[str, Any]:
        async with client.sessions() as session:
            return await get_run(session, result.run_id)

    run = await snapshot()
    if not live:
        while run["status"] not in RUN_TERMINAL:
            await asyncio.sleep(0.2)
            run = await snapshot()
        return str(run["status"])
    with Live(views.run_progress(run), console=console, refresh_per_second=8) as screen:
        while run["status"] not in RUN_TERMINAL:
            await asyncio.sleep(0.2)
            run = await snapshot()
            screen.update(views.run_progress(run))
    return str(run["status"])


async def _stop(worker: OrchestratorWorker, task: asyncio.Task[None]) -> None:
    worker.stopping = True
    worker.wake.set()
    with contextlib.suppress(asyncio.CancelledError, TimeoutError):
        await asyncio.wait_for(task, 30)
    await worker.close()
