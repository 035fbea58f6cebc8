"""The ``rulerepo`` command line.

Every listing and ``show`` take ``--json``: standard output then holds exactly one
JSON document (logs go to standard error).
"""

from __future__ import annotations

import asyncio
import getpass
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar
from zoneinfo import ZoneInfo

import typer
from rich.console import Console

from orchestrator.config import Settings
from orchestrator.errors import OrchestratorError
from orchestrator.states import Trigger
from rulerepo import app as composition
from rulerepo import views

cli = typer.Typer(no_args_is_help=True, help="Rule Repository workers.")
services_cli = typer.Typer(no_args_is_help=True, help="The embedded servers.")
import_cli = typer.Typer(no_args_is_help=True, help="Import a public catalogue.")
cli.add_typer(services_cli, name="services")
cli.add_typer(import_cli, name="import")
console = Console(stderr=True)
out = Console()
logger = logging.getLogger(__name__)

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
LimitOpt = Annotated[
    int | None, typer.Option("--limit", min=1, help="At most this many (default all).")
]
ActorOpt = Annotated[str, typer.Option(help="Who asks (recorded with the change).")]
ReviewerOpt = Annotated[
    str | None, typer.Option(help="The reviewer's name (default: your login).")
]
NoteOpt = Annotated[str | None, typer.Option(help="A note kept with the change.")]
PAGE = 500


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (OrchestratorError, ValueError, LookupError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(3) from None


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def parse_time(value: str | None, option: str = "--at") -> datetime:
    """An ISO 8601 instant (with zone), or now."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = (
            f"{option} {value!r} is not an ISO 8601 time such as 2026-12-01T05:00+00:00"
        )
        raise typer.BadParameter(msg) from None
    if parsed.tzinfo is None:
        msg = f"{option} {value!r} has no time zone; add one, e.g. {value}+00:00"
        raise typer.BadParameter(msg)
    return parsed.astimezone(UTC)


def parse_params(values: list[str]) -> dict[str, Any]:
    """``K=V`` pairs; a value that parses as JSON is taken as JSON."""
    params: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        if not sep or not key:
            msg = f"--param {item!r} must look like KEY=VALUE"
            raise typer.BadParameter(msg)
        try:
            params[key] = json.loads(raw)
        except json.JSONDecodeError:
            params[key] = raw
    return params


@cli.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    composition.configure_logging(logging.DEBUG if verbose else logging.INFO)


# --- servers -------------------------------------------------------------------


@services_cli.command("start")
def services_start() -> None:
    """Start the embedded PostgreSQL and Redis (they outlive this command)."""
    deployment = composition.resolve()
    out.print(
        f"PostgreSQL: {deployment.database_url}\nRedis:      {deployment.redis_url}"
    )


@services_cli.command("stop")
def services_stop() -> None:
    """Stop the embedded servers."""
    from rulerepo.services import stop_services

    stop_services(composition.data_dir(Settings()))


@services_cli.command("status")
def services_status(as_json: JsonOpt = False) -> None:
    """Show whether the embedded servers run."""
    from rulerepo.services import services_status as status

    result = status(composition.data_dir(Settings()))
    if as_json:
        _print_json(result)
    else:
        out.print(result)


@cli.command()
def migrate() -> None:
    """Apply the database migrations."""
    from orchestrator.migrate import upgrade

    upgrade(composition.resolve().database_url)
    console.print("database migrated")


# --- data in -------------------------------------------------------------------


async def _in_transaction(fn: Callable[[Any], Awaitable[T]]) -> T:
    from orchestrator.db import make_engine, make_sessionmaker, transaction

    engine = make_engine(composition.resolve().database_url, pool_size=1)
    try:
        async with transaction(make_sessionmaker(engine)) as session:
            return await fn(session)
    finally:
        await engine.dispose()


@cli.command()
def load(path: Path, as_json: JsonOpt = False) -> None:
    """Import a repository snapshot (all or nothing; loading twice keeps one copy)."""
    from tasks.snapshot import SnapshotError, load_snapshot, read_snapshot_file

    try:
        data = read_snapshot_file(path)
        report = _run(_in_transaction(lambda s: load_snapshot(s, data)))
    except SnapshotError as exc:
        console.print(f"[red]snapshot refused, nothing written:[/red]\n{exc}")
        raise typer.Exit(3) from None
    views.print_report(out, report, as_json)


@import_cli.command("cwe")
def import_cwe(path: Path, as_json: JsonOpt = False) -> None:
    """Import MITRE's CSV export of a CWE view (weaknesses as norms)."""
    from tasks.importers.cwe import import_cwe as run_import

    views.print_report(
        out, _run(_in_transaction(lambda s: run_import(s, path))), as_json
    )


@import_cli.command("asvs")
def import_asvs(directory: Path, as_json: JsonOpt = False) -> None:
    """Import OWASP ASVS flat JSON exports, one file per locale."""
    from tasks.importers.asvs import import_asvs as run_import

    report = _run(_in_transaction(lambda s: run_import(s, directory)))
    views.print_report(out, report, as_json)


# --- runs ----------------------------------------------------------------------


@cli.command()
def worker() -> None:
    """Run a worker until interrupted (SIGTERM lets running attempts be redelivered)."""
    deployment = composition.resolve()
    composition.worker(deployment).run()


@cli.command("run")
def run_graph(
    graph: str,
    at: Annotated[str | None, typer.Option(help="Logical time (ISO 8601).")] = None,
    param: Annotated[list[str] | None, typer.Option(help="KEY=VALUE")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the run to its end.")] = False,
    with_worker: Annotated[
        bool, typer.Option("--worker", help="Run a worker here until the run ends.")
    ] = False,
    actor: Annotated[str, typer.Option(help="Who asks.")] = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Trigger a run of GRAPH."""
    from rulerepo.follow import trigger_and_follow

    params = parse_params(param or [])
    logical_time = parse_time(at)
    status = _run(
        trigger_and_follow(
            composition.resolve(),
            lambda c: c.trigger(
                graph,
                logical_time=logical_time,
                trigger=Trigger.CLI,
                actor=actor,
                params=params,
            ),
            wait=wait or with_worker,
            with_worker=with_worker,
            as_json=as_json,
        )
    )
    raise typer.Exit(views.exit_code(status) if (wait or with_worker) else 0)


@cli.command()
def amend(
    norm: str,
    version: Annotated[int, typer.Option(help="The norm's new version.")],
    summary: Annotated[str, typer.Option(help="What changed.")],
    wait: bool = False,
    with_worker: Annotated[bool, typer.Option("--worker")] = False,
    actor: str = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Record an amendment of NORM and propagate it along the lineage."""
    from rulerepo.follow import trigger_and_follow
    from tasks.amendments import request_amendment

    status = _run(
        trigger_and_follow(
            composition.resolve(),
            lambda c: request_amendment(
                c,
                norm_id=norm,
                version=version,
                summary=summary,
                actor=actor,
                at=datetime.now(UTC),
                trigger=Trigger.CLI,
            ),
            wait=wait or with_worker,
            with_worker=with_worker,
            as_json=as_json,
        )
    )
    raise typer.Exit(views.exit_code(status) if (wait or with_worker) else 0)


async def _with_client(fn: Callable[[Any], Awaitable[T]]) -> T:
    async with composition.client(composition.resolve()) as client:
        return await fn(client)


def _run_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        msg = f"{value!r} is not a run id (a UUID such as 8f3c…)"
        raise typer.BadParameter(msg) from None


async def _collect(
    client: Any,
    fetch: Callable[[Any, Any, int], Awaitable[list[dict[str, Any]]]],
    key: Callable[[dict[str, Any]], Any],
    limit: int | None,
) -> list[dict[str, Any]]:
    """Every matching record (or the first ``limit``), read page by page."""
    rows: list[dict[str, Any]] = []
    after = None
    while limit is None or len(rows) < limit:
        size = PAGE if limit is None else min(PAGE, limit - len(rows))
        async with client.sessions() as session:
            page = await fetch(session, after, size)
        rows.extend(page)
        if len(page) < size:
            break
        after = key(page[-1])

    return rows


@cli.command()
def runs(
    graph: Annotated[str | None, typer.Option(help="Only this graph.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run history, newest first."""
    from orchestrator.history import list_runs

    async def fetch(session: Any, after: Any, size: int) -> list[dict[str, Any]]:
        return await list_runs(
            session, graph=graph, status=status, limit=size, before=after
        )

    def key(run: dict[str, Any]) -> tuple[datetime, uuid.UUID]:
        return datetime.fromisoformat(run["created_at"]), uuid.UUID(run["id"])

    found = _run(_with_client(lambda c: _collect(c, fetch, key, limit)))
    views.print_runs(out, found, as_json)


async def _show_run(client: Any, run_id: uuid.UUID) -> dict[str, Any]:
    from orchestrator.history import get_run

    async with client.sessions() as session:
        return await get_run(session, run_id)


@cli.command()
def show(run: str, as_json: JsonOpt = False) -> None:
    """One run with its steps, attempts, durations and errors."""
    run_id = _run_id(run)
    views.print_run(out, _run(_with_client(lambda c: _show_run(c, run_id))), as_json)


def _run_action(
    run: str, action: Callable[[Any, uuid.UUID], Awaitable[Any]], done: str
) -> dict[str, Any]:
    run_id = _run_id(run)

    async def act(client: Any) -> dict[str, Any]:
        await action(client, run_id)
        return await _show_run(client, run_id)

    result = _run(_with_client(act))
    console.print(done.format(run=run_id))
    return result


@cli.command()
def retry(
    run: str, step: str, actor: ActorOpt = "cli", as_json: JsonOpt = False
) -> None:
    """Retry one failed step of a run (succeeded steps keep their outputs)."""
    result = _run_action(
        run,
        lambda c, r: c.retry(r, step, actor),
        f"step {step!r} of run {{run}} queued again",
    )
    views.print_run(out, result, as_json)


@cli.command()
def rerun(
    run: str, step: str, actor: ActorOpt = "cli", as_json: JsonOpt = False
) -> None:
    """Run a succeeded step and its descendants again."""
    result = _run_action(
        run,
        lambda c, r: c.rerun(r, step, actor),
        f"step {step!r} of run {{run}} and its descendants queued again",
    )
    views.print_run(out, result, as_json)


@cli.command()
def cancel(run: str, actor: ActorOpt = "cli", as_json: JsonOpt = False) -> None:
    """Cancel a run in progress."""
    result = _run_action(run, lambda c, r: c.cancel(r, actor), "run {run} cancelled")
    views.print_run(out, result, as_json)


# --- schedules -----------------------------------------------------------------


async def _graph_rows(client: Any) -> list[dict[str, Any]]:
    from orchestrator.schedules import schedule_states

    states = await schedule_states(client.sessions)
    zone = ZoneInfo(composition.resolve().settings.schedule_timezone)
    return views.graph_rows(client.graphs, states, zone, datetime.now(UTC))


@cli.command("graphs")
def list_graphs(as_json: JsonOpt = False) -> None:
    """The graphs with their schedules: paused or not, and the next slot."""
    views.print_rows(out, _run(_with_client(_graph_rows)), as_json, title="Graphs")


def _schedule_action(graph: str, paused: bool, actor: str, as_json: bool) -> None:
    from orchestrator.schedules import pause_schedule, resume_schedule

    change = pause_schedule if paused else resume_schedule

    async def act(client: Any) -> list[dict[str, Any]]:
        await change(client.sessions, client.graph(graph), actor)
        return [r for r in await _graph_rows(client) if r["name"] == graph]

    (row,) = _run(_with_client(act))
    console.print(f"schedule of {graph} {'paused' if paused else 'resumed'}")
    views.print_one(out, row, as_json)


@cli.command()
def pause(graph: str, actor: ActorOpt = "cli", as_json: JsonOpt = False) -> None:
    """Stop GRAPH's schedule from starting runs (runs in progress go on)."""
    _schedule_action(graph, True, actor, as_json)


@cli.command()
def resume(graph: str, actor: ActorOpt = "cli", as_json: JsonOpt = False) -> None:
    """Let GRAPH's paused schedule start runs again (missed slots are not run)."""
    _schedule_action(graph, False, actor, as_json)


@cli.command()
def backfill(
    graph: str,
    start: Annotated[str, typer.Option("--from", help="First instant (ISO 8601).")],
    end: Annotated[str, typer.Option("--to", help="Last instant (ISO 8601).")],
    actor: ActorOpt = "cli",
    as_json: JsonOpt = False,
) -> None:
    """Run every slot of GRAPH's schedule in [--from, --to] that has no run yet."""
    from orchestrator.schedules import backfill as run_backfill

    first, last = parse_time(start, "--from"), parse_time(end, "--to")

    async def act(client: Any) -> list[Any]:
        zone = ZoneInfo(composition.resolve().settings.schedule_timezone)
        return await run_backfill(
            client.sessions,
            client.enqueue,
            client.graph(graph),
            zone,
            first,
            last,
            actor,
        )

    results = _run(_with_client(act))
    created = [r for r in results if r.created]
    console.print(f"{len(results)} slots of {graph}: {len(created)} new runs")
    views.print_one(
        out,
        {
            "graph": graph,
            "slots": len(results),
            "created": len(created),
            "runs": [{"id": str(r.run_id), "created": r.created} for r in results],
        },
        as_json,
    )


# --- the domain ----------------------------------------------------------------


@cli.command()
def rules(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Rules with their maturity, status and latest health."""
    from tasks.queries import list_rules

    async def fetch(session: Any, after: Any, size: int) -> list[dict[str, Any]]:
        return await list_rules(session, status=status, limit=size, after=after)

    found = _run(_with_client(lambda c: _collect(c, fetch, lambda r: r["id"], limit)))
    views.print_rows(out, found, as_json, title="Rules")


@cli.command()
def review(
    rule: str,
    reviewer: ReviewerOpt = None,
    note: NoteOpt = None,
    at: Annotated[str | None, typer.Option(help="When (ISO 8601); now.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Record a review of RULE: sets its last review, clears its review request."""
    from tasks.reviews import record_review

    when = parse_time(at, "--at")
    who = reviewer or getpass.getuser()
    result = _run(_in_transaction(lambda s: record_review(s, rule, who, when, note)))
    console.print(f"review of {rule} by {who} recorded")
    views.print_one(out, {**result, "reviewer": who, "note": note}, as_json)


@cli.command()
def alerts(
    status: Annotated[
        str | None, typer.Option(help="open, acknowledged, resolved")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    severity: Annotated[
        str | None, typer.Option(help="info, warning, critical")
    ] = None,
    rule: Annotated[str | None, typer.Option(help="Only this rule's.")] = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Alerts raised by the jobs, newest first."""
    from tasks.alert_actions import list_alerts_page

    async def fetch(session: Any, after: Any, size: int) -> list[dict[str, Any]]:
        return await list_alerts_page(
            session,
            status=status,
            kind=kind,
            severity=severity,
            rule_id=rule,
            before_id=after,
            limit=size,
        )

    found = _run(_with_client(lambda c: _collect(c, fetch, lambda r: r["id"], limit)))
    views.print_rows(out, found, as_json, title="Alerts")


def _alert_action(alert: int, acknowledge: bool, actor: str, note: str | None) -> Any:
    from tasks.alert_actions import acknowledge_alert, resolve_alert

    change = acknowledge_alert if acknowledge else resolve_alert
    now = datetime.now(UTC)
    return _run(
        _in_transaction(lambda s: change(s, alert, actor=actor, at=now, note=note))
    )


@cli.command()
def ack(
    alert: int, actor: ActorOpt = "cli", note: NoteOpt = None, as_json: JsonOpt = False
) -> None:
    """Acknowledge an open ALERT (it stays until resolved)."""
    result = _alert_action(alert, True, actor, note)
    console.print(f"alert {alert} acknowledged")
    views.print_one(out, result, as_json)


@cli.command()
def resolve(
    alert: int, actor: ActorOpt = "cli", note: NoteOpt = None, as_json: JsonOpt = False
) -> None:
    """Resolve an open or acknowledged ALERT."""
    result = _alert_action(alert, False, actor, note)
    console.print(f"alert {alert} resolved")
    views.print_one(out, result, as_json)


@cli.command()
def proposals(
    status: Annotated[
        str | None, typer.Option(help="pending, approved, dismissed")
    ] = None,
    limit: LimitOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draft rules proposed by the correction flywheel."""
    from tasks.proposals import list_proposals_page

    async def fetch(session: Any, after: Any, size: int) -> list[dict[str, Any]]:
        return await list_proposals_page(
            session, status=status, after_id=after, limit=size
        )

    found = _run(_with_client(lambda c: _collect(c, fetch, lambda r: r["id"], limit)))
    views.print_rows(out, found, as_json, title="Proposals")


def _decide(
    proposal: str, approve_it: bool, reviewer: str | None, note: str | None
) -> Any:
    from tasks.proposals import approve_proposal, dismiss_proposal

    decide = approve_proposal if approve_it else dismiss_proposal
    who = reviewer or getpass.getuser()
    now = datetime.now(UTC)
    return _run(
        _in_transaction(
            lambda s: decide(s, proposal, reviewer=who, actor=who, at=now, note=note)
        )
    )


@cli.command()
def approve(
    proposal: str,
    reviewer: ReviewerOpt = None,
    note: NoteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve a pending PROPOSAL: creates its experimental rule (once)."""
    result = _decide(proposal, True, reviewer, note)
    console.print(f"proposal {proposal} approved: rule {result['rule_id']} created")
    views.print_one(out, result, as_json)


@cli.command()
def dismiss(
    proposal: str,
    reviewer: ReviewerOpt = None,
    note: NoteOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Dismiss a pending PROPOSAL."""
    result = _decide(proposal, False, reviewer, note)
    console.print(f"proposal {proposal} dismissed")
    views.print_one(out, result, as_json)


@cli.command("api")
def serve_api(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port.")] = 8000,
) -> None:
    """Serve the status API (uvicorn) until interrupted."""
    import uvicorn

    from api import create_app
    from orchestrator.telemetry import API_SERVICE, instrument_app

    deployment = composition.resolve()
    settings = deployment.settings.model_copy(
        update={
            "database_url": deployment.database_url,
            "redis_url": deployment.redis_url,
        }
    )
    if settings.api_token is None:
        logger.warning(
            "API_TOKEN is not set: the API refuses every change",
            extra={"event": "api.no_token"},
        )
    telemetry = composition.telemetry(API_SERVICE)
    application = create_app(settings, tracer_provider=telemetry.tracer_provider)
    instrument_app(application, telemetry)
    uvicorn.run(application, host=host, port=port, log_config=None, log_level="info")


@cli.command()
def demo(
    corpus: Annotated[
        Path | None,
        typer.Option(help="A folder holding cwe/ and asvs/ to use instead of samples."),
    ] = None,
) -> None:
    """Start the servers, load a repository and run the main jobs for real."""
    from rulerepo.demo import run_demo

    raise typer.Exit(_run(run_demo(composition.resolve(), out, corpus=corpus)))


app = cli
