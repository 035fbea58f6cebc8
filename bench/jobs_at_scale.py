"""5. The jobs at scale: health scores, the flywheel, norm propagation.

``health_1m.py`` (compute_health_scores over 10,000 rules and 1,000,000
evaluations) and ``cluster_50k.py`` (the clustering step alone, over 50,000
corrections) run as they are, each in its own process; their printed figures
are read back, and their peak memory is that process's maximum resident set
(``wait4``). For health scores the work is mostly PostgreSQL's, whose memory
is not counted.

The whole flywheel runs through a worker (``bench/flywheel.py``). Norm
propagation runs for real: the CWE research view and the nine ASVS
locales are imported from the corpus folder into a scratch database, and
CWE-284 is amended through the engine with one worker process; the run is timed
from the amendment request to its end, and its peak memory is the worker's.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import text

import graphs.propagate_norm_amendment as propagation
from bench import flywheel
from bench.config import BenchConfig
from bench.engine_runs import T, client, step_count, wait_finished
from bench.figures import Figure
from bench.scratch import Scratch, scratch
from bench.workers import PROJECT_ROOT, start_engine_workers, stop
from orchestrator.states import Trigger
from tasks.amendments import request_amendment
from tasks.importers.asvs import import_asvs
from tasks.importers.cwe import import_cwe

logger = logging.getLogger(__name__)

SECTION = "5. the jobs at scale"
MIB = 2**20
NUMBER = r"([\d,.]+)"


@dataclass(frozen=True)
class ScriptRun:
    """What a benchmark script printed, how long it took, its peak memory."""

    stdout: str
    elapsed_s: float
    max_rss_bytes: int
    exit_code: int


class ScriptFailedError(RuntimeError):
    """A benchmark script exited with an error or printed something unexpected."""


def run_script(
    script: str,
    *args: str,
    accept: tuple[int, ...] = (0,),
    env: dict[str, str] | None = None,
    on_start: Callable[[subprocess.Popen[bytes]], None] | None = None,
) -> ScriptRun:
    """Run ``python -m bench.<script>`` to its end in its own process (blocking).

    ``on_start`` is handed the process as soon as it exists.

    Raises:
        ScriptFailedError: it exited with a code not in ``accept``.
    """
    with tempfile.TemporaryFile() as errors:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, "-m", f"bench.{script}", *args],
            cwd=PROJECT_ROOT,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env={**os.environ, **(env or {})},
        )
        if on_start is not None:
            on_start(proc)
        assert proc.stdout is not None
        stdout = proc.stdout.read().decode()
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        elapsed = time.perf_counter() - started
        if proc.returncode not in accept:
            errors.seek(0)
            tail = errors.read().decode(errors="replace").strip().splitlines()[-5:]
            msg = f"{script} exited with {proc.returncode}: " + " / ".join(tail)
            raise ScriptFailedError(msg)

    return ScriptRun(stdout, elapsed, usage.ru_maxrss * 1024, proc.returncode)


async def run_script_async(script: str, *args: str) -> ScriptRun:
    """``run_script`` in a thread; cancelling it sends the script SIGTERM."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        return await asyncio.to_thread(run_script, script, *args, on_start=procs.append)
    except asyncio.CancelledError:
        for proc in procs:
            proc.terminate()
        raise


def read_number(pattern: str, run: ScriptRun, script: str) -> float:
    """The number captured by ``pattern`` in the script's output."""
    found = re.search(pattern, run.stdout)
    if found is None:
        msg = (
            f"{script} printed no line matching {pattern!r}; it printed: {run.stdout!r}"
        )
        raise ScriptFailedError(msg)

    return float(found.group(1).replace(",", ""))


async def measure(config: BenchConfig) -> list[Figure]:
    """Health scores, clustering, the flywheel and norm propagation."""
    figures: list[Figure] = []
    for part in (_health, _clustering, _flywheel, _propagation):
        try:
            figures += await part(config)
        except Exception as exc:
            logger.exception(
                "%s failed", part.__name__[1:], extra={"event": "bench.failed"}
            )
            figures.append(
                Figure(
                    SECTION,
                    f"{part.__name__[1:]} failed",
                    note=f"{type(exc).__name__}: {exc}",
                    failed=True,
                )
            )

    return figures


async def _health(config: BenchConfig) -> list[Figure]:
    rules = config.size(10_000, 1_000)
    evaluations = config.size(1_000_000, 50_000)
    script = "health_1m"
    run = await run_script_async(
        script,
        f"--rules={rules}",
        f"--evaluations={evaluations}",
        f"--database-url={config.database_url}",
    )
    label = f"health scores, {rules:,} rules, {evaluations:,} evaluations"

    return [
        Figure(
            SECTION,
            f"{label}: seed (s)",
            [read_number(rf"judgments in {NUMBER} s", run, script)],
        ),
        Figure(
            SECTION,
            f"{label}: score + alert (s)",
            [read_number(rf"first run: .*; total {NUMBER} s", run, script)],
        ),
        Figure(
            SECTION,
            f"{label}: re-run for the same T (s)",
            [read_number(rf"re-run for the same T: .*; total {NUMBER} s", run, script)],
        ),
        Figure(
            SECTION,
            f"{label}: peak RSS of the script (MiB)",
            [run.max_rss_bytes / MIB],
        ),
    ]


async def _clustering(config: BenchConfig) -> list[Figure]:
    corrections = config.size(50_000, 5_000)
    script = "cluster_50k"
    run = await run_script_async(script, f"--n={corrections}")
    label = f"clustering {corrections:,} corrections"

    return [
        Figure(
            SECTION,
            f"{label}: embed (s)",
            [read_number(rf"build {NUMBER} s", run, script)],
        ),
        Figure(
            SECTION,
            f"{label}: cluster (s)",
            [read_number(rf"cluster {NUMBER} s", run, script)],
        ),
        Figure(
            SECTION,
            f"{label}: peak traced while clustering (MiB)",
            [read_number(rf"peak traced while clustering {NUMBER} MiB", run, script)],
        ),
        Figure(
            SECTION,
            f"{label}: peak RSS of the script (MiB)",
            [run.max_rss_bytes / MIB],
        ),
    ]


async def _flywheel(config: BenchConfig) -> list[Figure]:
    return await flywheel.measure(config)


async def _propagation(config: BenchConfig) -> list[Figure]:
    if not (config.corpus_dir / "cwe").is_dir():
        msg = (
            f"the CWE and ASVS catalogues are not in {config.corpus_dir}; "
            "set RULEREPO_CORPUS_DIR or pass --corpus-dir"
        )
        raise FileNotFoundError(msg)
    async with scratch(config.database_url, config.redis_url, "propagation") as sc:
        return await _propagate(sc, config.corpus_dir)


async def _propagate(sc: Scratch, corpus: Path) -> list[Figure]:
    label = "propagating a CWE-284 amendment over CWE + ASVS"
    async with client(
        sc.database_url, sc.redis_url, sc.queue_name, propagation.GRAPH
    ) as orch:
        started = time.perf_counter()
        async with orch.sessions() as session, session.begin():
            await import_cwe(session, next((corpus / "cwe").glob("*.csv")))
            await import_asvs(session, corpus / "asvs")
        imported_s = time.perf_counter() - started
        (worker,) = await start_engine_workers(sc, 1)
        try:
            asked = time.time()
            result = await request_amendment(
                orch,
                norm_id="CWE-284",
                version=2,
                summary="benchmark amendment",
                actor="bench",
                at=T,
                trigger=Trigger.API,
            )
            finished = await wait_finished(orch, result.run_id, timeout_s=900)
        finally:
            await stop(worker)
        steps = await step_count(orch, result.run_id)
        async with orch.sessions() as session:
            notices = await session.scalar(
                text("SELECT count(*) FROM amendment_notices")
            )
    elapsed = finished - asked

    return [
        Figure(SECTION, "import CWE research view + 9 ASVS locales (s)", [imported_s]),
        Figure(SECTION, f"{label}: run (s)", [elapsed]),
        Figure(SECTION, f"{label}: steps in the run", [float(steps)]),
        Figure(SECTION, f"{label}: notices recorded", [float(notices or 0)]),
        Figure(SECTION, f"{label}: ms per step", [1000 * elapsed / steps]),
        Figure(
            SECTION,
            f"{label}: peak RSS of the worker (MiB)",
            [worker.max_rss_bytes / MIB],
        ),
    ]
