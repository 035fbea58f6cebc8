"""The ``rulerepo`` command line.

Every listing and ``show`` take ``--json``: standard output then holds exactly one
JSON document (logs go to standard error).
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, TypeVar

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

T = TypeVar("T")
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
LimitOpt = Annotated[int, typer.Option("--limit", min=1, help="At most this many.")]


def _run(coro: Coroutine[Any, Any, T]) -> T:
    try:
        return asyncio.run(coro)
    except (OrchestratorError, ValueError, LookupError) as exc:
        console.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(3) from None


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, indent=2, default=str) + "\n")


def parse_time(value: str | None) -> datetime:
    """An ISO 8601 instant (with zone), or now."""
    if value is None:
        return datetime.now(UTC)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        msg = f"--at {value!r} is not an ISO 8601 time such as 2026-12-01T05:00+00:00"
        raise typer.BadParameter(msg) from None
    if parsed.tzinfo is None:
        msg = f"--at {value!r} has no time zone; add one, e.g. {value}+00:00"
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


@cli.command()
def runs(
    graph: Annotated[str | None, typer.Option(help="Only this graph.")] = None,
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: LimitOpt = 20,
    as_json: JsonOpt = False,
) -> None:
    """Run history, newest first."""
    from orchestrator.history import list_runs

    async def fetch(client: Any) -> list[dict[str, Any]]:
        async with client.sessions() as session:
            return await list_runs(session, graph=graph, status=status, limit=limit)

    views.print_runs(out, _run(_with_client(fetch)), as_json)


@cli.command()
def show(run: str, as_json: JsonOpt = False) -> None:
    """One run with its steps, attempts, durations and errors."""
    from orchestrator.history import get_run

    run_id = _run_id(run)

    async def fetch(client: Any) -> dict[str, Any]:
        async with client.sessions() as session:
            return await get_run(session, run_id)

    views.print_run(out, _run(_with_client(fetch)), as_json)


@cli.command()
def retry(run: str, step: str, actor: str = "cli") -> None:
    """Retry one failed step of a run (succeeded steps keep their outputs)."""
    run_id = _run_id(run)
    _run(_with_client(lambda c: c.retry(run_id, step, actor)))
    console.print(f"step {step!r} of run {run_id} queued again")


@cli.command()
def rerun(run: str, step: str, actor: str = "cli") -> None:
    """Run a succeeded step and its descendants again."""
    run_id = _run_id(run)
    _run(_with_client(lambda c: c.rerun(run_id, step, actor)))
    console.print(f"step {step!r} of run {run_id} and its descendants queued again")


@cli.command()
def cancel(run: str, actor: str = "cli") -> None:
    """Cancel a run in progress."""
    run_id = _run_id(run)
    _run(_with_client(lambda c: c.cancel(run_id, actor)))
    console.print(f"run {run_id} cancelled")


@cli.command("graphs")
def list_graphs(as_json: JsonOpt = False) -> None:
    """The graphs of this deployment with their schedules."""
    views.print_graphs(out, composition.graphs(), as_json)


# --- the domain ----------------------------------------------------------------


@cli.command()
def rules(
    status: Annotated[str | None, typer.Option(help="Only this status.")] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Rules with their maturity, status and latest health."""
    from tasks.queries import list_rules

    async def fetch(client: Any) -> list[dict[str, Any]]:
        async with client.sessions() as session:
            return await list_rules(session, status=status, limit=limit)

    views.print_rows(out, _run(_with_client(fetch)), as_json, title="Rules")


@cli.command()
def alerts(
    status: Annotated[
        str | None, typer.Option(help="open, acknowledged, resolved")
    ] = None,
    kind: Annotated[str | None, typer.Option(help="Only this kind.")] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Alerts raised by the jobs."""
    from tasks.queries import list_alerts

    async def fetch(client: Any) -> list[dict[str, Any]]:
        async with client.sessions() as session:
            return await list_alerts(session, status=status, kind=kind, limit=limit)

    views.print_rows(out, _run(_with_client(fetch)), as_json, title="Alerts")


@cli.command()
def proposals(
    status: Annotated[
        str | None, typer.Option(help="pending, approved, dismissed")
    ] = None,
    limit: LimitOpt = 100,
    as_json: JsonOpt = False,
) -> None:
    """Draft rules proposed by the correction flywheel."""
    from tasks.queries import list_proposals

    async def fetch(client: Any) -> list[dict[str, Any]]:
        async with client.sessions() as session:
            return await list_proposals(session, status=status, limit=limit)

    views.print_rows(out, _run(_with_client(fetch)), as_json, title="Proposals")


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
