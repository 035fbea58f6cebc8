"""``rulerepo demo``: the main jobs, for real, on a fresh machine.

Starts (or reuses) the servers, migrates, loads the generated sample repository
(or imports the real CWE and ASVS catalogues with ``--corpus``), then runs the
correction flywheel and a norm amendment through a real arq worker in this
process, and ends with a summary of what happened and where to look next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from sqlalchemy import text

from orchestrator.client import Orchestrator
from orchestrator.history import get_run
from orchestrator.migrate import upgrade_async
from orchestrator.states import Trigger
from rulerepo import app as composition
from rulerepo import views

logger = logging.getLogger(__name__)


async def run_demo(
    deployment: composition.Deployment, out: Console, *, corpus: Path | None = None
) -> int:
    """Run the demo; returns 0 when every run succeeded, else 1."""
    where = "embedded servers" if deployment.embedded else "configured servers"
    out.rule("[bold]Rule Repository workers: demo")
    out.print(
        f"Using {where}:\n  PostgreSQL {deployment.database_url}\n"
        f"  Redis      {deployment.redis_url}"
    )
    await upgrade_async(deployment.database_url)
    out.print("Database migrated.")
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    async with composition.client(deployment) as client:
        norm_id = await _load(client, out, now, corpus)
        worker = composition.worker(deployment, handle_signals=False)
        task = asyncio.create_task(worker.main())
        try:
            run_ids = await _run_jobs(client, out, now, norm_id)
        finally:
            worker.stopping = True
            worker.wake.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 30)
            await worker.close()
        return await _summary(client, out, run_ids)


async def _load(
    client: Orchestrator, out: Console, now: datetime, corpus: Path | None
) -> str:
    async with client.sessions() as session, session.begin():
        if corpus is None:
            from tasks.sample import generate_sample
            from tasks.snapshot import load_snapshot

            data = generate_sample(now=now)
            report = await load_snapshot(session, data)
            out.print(f"Sample repository loaded:\n{report}")
        else:
            from tasks.importers.asvs import import_asvs
            from tasks.importers.cwe import import_cwe

            csv = next((corpus / "cwe").glob("*.csv"))
            out.print(f"CWE imported:\n{await import_cwe(session, csv)}")
            out.print(f"ASVS imported:\n{await import_asvs(session, corpus / 'asvs')}")
        return await _widest_norm(session, "CWE-284" if corpus else None)


async def _widest_norm(session: Any, preferred: str | None) -> str:
    """The norm to amend: ``preferred`` if present, else the one with most children."""
    if preferred is not None:
        found = await session.scalar(
            text("SELECT id FROM norms WHERE id = :id"), {"id": preferred}
        )
        if found:
            return str(found)
    norm = await session.scalar(
        text(
            """
            SELECT n.id FROM norms n JOIN lineage l ON l.parent_id = n.id
            WHERE NOT EXISTS (SELECT 1 FROM lineage p WHERE p.child_id = n.id)
            GROUP BY n.id ORDER BY count(*) DESC, n.id LIMIT 1
            """
        )
    )
    if norm is None:
        msg = "the repository has no norm with derived norms or rules to amend"
        raise LookupError(msg)
    return str(norm)


async def _run_jobs(
    client: Orchestrator, out: Console, now: datetime, norm_id: str
) -> list[Any]:
    from tasks.amendments import request_amendment

    out.rule("cluster_corrections")
    flywheel = await client.trigger(
        "cluster_corrections", logical_time=now, trigger=Trigger.CLI, actor="demo"
    )
    await _follow(client, out, flywheel.run_id)
    async with client.sessions() as session:
        version = int(
            await session.scalar(
                text("SELECT version FROM norms WHERE id = :id"), {"id": norm_id}
            )
        )
    out.rule(f"propagate_norm_amendment ({norm_id} → version {version + 1})")
    amendment = await request_amendment(
        client,
        norm_id=norm_id,
        version=version + 1,
        summary="demo amendment: tightened wording",
        actor="demo",
        at=now,
        trigger=Trigger.CLI,
    )
    await _follow(client, out, amendment.run_id)
    return [flywheel.run_id, amendment.run_id]


async def _follow(client: Orchestrator, out: Console, run_id: Any) -> None:
    status = await client.wait(run_id, timeout_s=600)
    out.print(f"run {run_id} {views._styled(status)}")


async def _summary(client: Orchestrator, out: Console, run_ids: list[Any]) -> int:
    failed = 0
    out.rule("[bold]Summary")
    async with client.sessions() as session:
        for run_id in run_ids:
            run = await get_run(session, run_id)
            failed += run["status"] != "succeeded"
            _print_run_summary(out, run)
        alerts = (
            await session.execute(
                text(
                    "SELECT kind, severity, count(*) FROM alerts WHERE status = 'open'"
                    " GROUP BY kind, severity ORDER BY kind"
                )
            )
        ).all()
        proposals = (
            await session.execute(
                text(
                    "SELECT id, title, cardinality(correction_ids) FROM proposals"
                    " WHERE status = 'pending' ORDER BY id"
                )
            )
        ).all()
    table = Table(title="Open alerts by kind")
    for column in ("kind", "severity", "count"):
        table.add_column(column)
    for kind, severity, count in alerts:
        table.add_row(kind, severity, str(count))
    out.print(table)
    table = Table(title=f"Pending proposals ({len(proposals)})")
    for column in ("id", "title", "corrections"):
        table.add_column(column)
    for pid, title, n in proposals:
        table.add_row(pid, title, str(n))
    out.print(table)
    out.print(
        "Next: [bold]rulerepo runs[/bold], [bold]rulerepo show RUN[/bold], "
        "[bold]rulerepo alerts[/bold], [bold]rulerepo proposals[/bold]; "
        "[bold]rulerepo worker[/bold] runs a worker for scheduled and triggered runs; "
        "[bold]rulerepo api[/bold] serves the status API at "
        "http://127.0.0.1:8000/api/v1 (set API_TOKEN for changes); "
        "[bold]rulerepo services stop[/bold] stops the embedded servers."
    )
    return 1 if failed else 0


def _print_run_summary(out: Console, run: dict[str, Any]) -> None:
    steps = run["steps"]
    out.print(views.run_table({**run, "steps": steps[:25]}))
    if len(steps) > 25:
        expanded = sum(1 for s in steps if s["expanded_from"])
        durations = [s["duration_s"] or 0.0 for s in steps]
        out.print(
            f"… and {len(steps) - 25} more steps ({expanded} expanded at run time); "
            f"slowest {max(durations):.3f}s, total step time {sum(durations):.2f}s"
        )
    out.print(f"run took {run['duration_s']}s")
