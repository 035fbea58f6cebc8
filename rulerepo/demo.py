"""``rulerepo demo``: the main jobs, for real, on a fresh machine.

Starts (or reuses) the servers, migrates, loads the generated sample repository
(or imports the real CWE and ASVS catalogues with ``--corpus``), then runs the
nightly cycle, the weekly jobs and a norm amendment through a real arq worker in
this process, and ends with a summary of what each run found and where to look
next.
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

# The scheduled jobs in the order their schedules run them in a night, then the
# weekly ones; each runs once at the demo's logical time.
CYCLE = (
    "compute_health_scores",
    "generate_recommendations",
    "verify_translation_drift",
    "auto_promote_rules",
    "detect_verdict_drift",
    "cluster_corrections",
    "policy_review_cycle",
    "compute_correction_stats",
    "validate_polyglot_equivalence",
    "send_weekly_digest",
)


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

    run_ids = []
    out.rule("the nightly cycle and the weekly jobs")
    for graph in CYCLE:
        started = await client.trigger(
            graph, logical_time=now, trigger=Trigger.CLI, actor="demo"
        )
        await _follow(client, out, started.run_id, graph)
        run_ids.append(started.run_id)
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
    await _follow(client, out, amendment.run_id, "propagate_norm_amendment")
    return [*run_ids, amendment.run_id]


async def _follow(client: Orchestrator, out: Console, run_id: Any, graph: str) -> None:
    status = await client.wait(run_id, timeout_s=600)
    out.print(f"{graph}: run {run_id} {views._styled(status)}")


async def _summary(client: Orchestrator, out: Console, run_ids: list[Any]) -> int:
    failed = 0
    out.rule("[bold]Summary")
    async with client.sessions() as session:
        runs = [await get_run(session, run_id) for run_id in run_ids]
    failed = sum(run["status"] != "succeeded" for run in runs)
    _print_runs_summary(out, runs)
    async with client.sessions() as session:
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


def _print_runs_summary(out: Console, runs: list[dict[str, Any]]) -> None:
    table = Table(title="Runs, and what each found")
    for column in ("graph", "status", "steps", "took", "found"):
        table.add_column(column)
    for run in runs:
        expanded = sum(1 for s in run["steps"] if s["expanded_from"])
        steps = f"{len(run['steps'])}" + (f" ({expanded} expanded)" if expanded else "")
        table.add_row(
            run["graph"],
            views._styled(run["status"]),
            steps,
            f"{run['duration_s']}s",
            _found(run),
        )
    out.print(table)


def _found(run: dict[str, Any]) -> str:
    """The counts the run's non-expanded steps reported, as ``name=value``."""
    figures = [
        f"{name}={value}"
        for step in run["steps"]
        if not step["expanded_from"] and isinstance(step.get("output"), dict)
        for name, value in step["output"].items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    ]
    text = ", ".join(figures)
    return text if len(text) <= 160 else text[:157] + "..."
