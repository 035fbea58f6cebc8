"""Run every benchmark and print one table: ``python -m bench.run_all``.

Against the PostgreSQL and Redis named by ``DATABASE_URL`` and ``REDIS_URL``;
where one is unset, the embedded server the ``rulerepo`` CLI uses (started if
it is not running, under ``RULEREPO_DATA_DIR``). Both are checked before any
benchmark starts. Each
benchmark gets a scratch database (created, migrated, dropped) and private
queues, and starts its own worker processes. Prints the machine, then for every
figure its median, range and number of runs; engine figures stand beside plain
arq's, measured in the same invocation, with their ratio.

    .venv/bin/python -m bench.run_all [--quick] [--markdown PATH] [--only NAMES]

``--quick`` uses small sizes, to check that everything runs; its figures are not
the ones to quote. SIGTERM stops it as Ctrl-C does: workers are stopped and
scratch databases dropped before it exits (143).
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import (
    api_figures,
    fan_out,
    fixed_cost,
    handoff,
    jobs_at_scale,
    throughput,
)
from bench.arguments import positive_int
from bench.config import BenchConfig
from bench.figures import Figure, markdown_table, text_table
from bench.machine import Machine, describe
from bench.scratch import ServersUnreachableError, check_servers
from bench.stopping import run_until_stopped
from bench.workers import PROJECT_ROOT

# Named explicitly: run as ``-m``, this module is ``__main__``.
logger = logging.getLogger("bench.run_all")

RATIOS = (
    "Ratios are engine / arq, measured in this invocation: for a rate, below 1 "
    "means the engine is slower; for a time, above 1 means it is slower."
)

Measure = Callable[[BenchConfig], Awaitable[list[Figure]]]

BENCHMARKS: dict[str, tuple[str, Measure]] = {
    "throughput": (throughput.SECTION, throughput.measure),
    "handoff": (handoff.SECTION, handoff.measure),
    "fixed_cost": (fixed_cost.SECTION, fixed_cost.measure),
    "fan_out": (fan_out.SECTION, fan_out.measure),
    "jobs": (jobs_at_scale.SECTION, jobs_at_scale.measure),
    "api": (api_figures.SECTION, api_figures.measure),
}


def _arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.run_all", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="small sizes")
    parser.add_argument(
        "--repeat",
        type=positive_int,
        help="runs of each repeated figure (3; quick: 2)",
    )
    parser.add_argument("--markdown", type=Path, help="also write the table here")
    parser.add_argument(
        "--only",
        help=f"comma-separated benchmarks to run, of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument(
        "--corpus-dir",
        type=Path,
        default=Path(
            os.environ.get("RULEREPO_CORPUS_DIR", PROJECT_ROOT.parent / "shared/data")
        ),
        help="the CWE and ASVS catalogues (RULEREPO_CORPUS_DIR)",
    )
    args = parser.parse_args(argv)
    args.names = _names(parser, args.only)
    if args.markdown is not None:
        _check_writable(parser, args.markdown)

    return args


def _names(parser: argparse.ArgumentParser, only: str | None) -> list[str]:
    """The benchmarks ``--only`` names, in order and once each (all if unset)."""
    if only is None:
        return list(BENCHMARKS)
    names = list(dict.fromkeys(n.strip() for n in only.split(",") if n.strip()))
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown or not names:
        given = ", ".join(repr(n) for n in unknown) or "none"
        parser.error(
            f"--only: unknown benchmark(s) {given}; choose from {', '.join(BENCHMARKS)}"
        )

    return names


def _check_writable(parser: argparse.ArgumentParser, path: Path) -> None:
    """Refuse a ``--markdown`` path that cannot be written, before any work."""
    if path.is_dir():
        parser.error(f"--markdown: {path} is a directory; name a file")
    if not path.parent.is_dir():
        parser.error(f"--markdown: the folder {path.parent} does not exist")
    if not os.access(path.parent, os.W_OK):
        parser.error(f"--markdown: the folder {path.parent} is not writable")


async def run(config: BenchConfig, names: list[str]) -> list[Figure]:
    """Run the named benchmarks in order; a failure becomes a row saying so."""
    figures: list[Figure] = []
    for name in names:
        section, measure = BENCHMARKS[name]
        started = time.perf_counter()
        logger.info("benchmark %s started", name, extra={"event": "bench.started"})
        try:
            figures += await measure(config)
        except Exception as exc:
            logger.exception(
                "benchmark %s failed", name, extra={"event": "bench.failed"}
            )
            figures.append(
                Figure(
                    section,
                    "failed",
                    note=f"{type(exc).__name__}: {exc}",
                    failed=True,
                )
            )
        logger.info(
            "benchmark %s took %.0f s",
            name,
            time.perf_counter() - started,
            extra={"event": "bench.finished"},
        )

    return figures


def report(machine: Machine, config: BenchConfig, figures: list[Figure]) -> str:
    """The header lines and the table, as printed."""
    mode = "quick (small sizes; not figures to quote)" if config.quick else "full"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        *machine.lines(),
        f"load average at end: {load}",
        f"mode: {mode}; repeated figures run {config.repeat} times",
        "",
    ]

    return "\n".join(lines) + text_table(figures) + "\n" + RATIOS + "\n"


def markdown(machine: Machine, config: BenchConfig, figures: list[Figure]) -> str:
    """The same report as a Markdown document."""
    mode = "quick (small sizes; not figures to quote)" if config.quick else "full"
    load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    lines = [
        "# Benchmarks",
        "",
        *(f"- {line}" for line in machine.lines()),
        f"- load average at end: {load}",
        f"- mode: {mode}; repeated figures run {config.repeat} times",
        "",
        "",
    ]

    return "\n".join(lines) + markdown_table(figures) + "\n" + RATIOS + "\n"


async def main_async(argv: list[str] | None = None) -> int:
    """Run the benchmarks and print the report; 1 if any benchmark failed,
    2 if the servers cannot be used."""
    args = _arguments(argv)
    try:
        database_url, redis_url = _servers()
        await check_servers(database_url, redis_url)
    except ServersUnreachableError as exc:
        sys.stderr.write(f"bench: {exc}\n")
        return 2
    if "jobs" in args.names and not (args.corpus_dir / "cwe").is_dir():
        logger.warning(
            "the CWE and ASVS catalogues are not in %s (--corpus-dir, "
            "RULEREPO_CORPUS_DIR): the propagation figures will be a failed row",
            args.corpus_dir,
            extra={"event": "bench.no_corpus"},
        )
    config = BenchConfig(
        database_url=database_url,
        redis_url=redis_url,
        quick=args.quick,
        repeat=args.repeat if args.repeat is not None else (2 if args.quick else 3),
        corpus_dir=args.corpus_dir,
    )
    machine = await describe(config.database_url, config.redis_url)
    figures = await run(config, args.names)
    sys.stdout.write(report(machine, config, figures))
    if args.markdown:
        args.markdown.write_text(markdown(machine, config, figures), encoding="utf-8")

    return 1 if any(f.failed for f in figures) else 0


def _servers() -> tuple[str, str]:
    """``DATABASE_URL`` and ``REDIS_URL``, or the embedded servers where unset.

    Raises:
        ServersUnreachableError: the settings cannot be read, or an embedded
            server cannot be started.
    """
    from rulerepo.app import resolve

    try:
        deployment = resolve()
    except Exception as exc:
        msg = f"cannot resolve the servers: {type(exc).__name__}: {exc}"
        raise ServersUnreachableError(msg) from exc

    return deployment.database_url, deployment.redis_url


def main() -> None:
    """Entry point of ``python -m bench.run_all``."""
    logging.basicConfig(
        level=logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("bench").setLevel(logging.INFO)
    sys.exit(run_until_stopped(main_async()))


if __name__ == "__main__":
    main()
