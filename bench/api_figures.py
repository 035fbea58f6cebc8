"""6. The status API: ``bench/api_runs.py`` (run listing, first and deep pages).

That script is the API's own benchmark: it seeds runs into a scratch database,
serves the API and times ``GET /api/v1/runs`` on the first page and on a deep
one. It runs here as it is (with smaller sizes in quick mode, when it takes
them), and the figures it prints become rows; a line it prints that is not
recognised is shown verbatim. Without the script the table says it was not
measured.
"""

from __future__ import annotations

import asyncio
import re

from bench.config import BenchConfig
from bench.figures import Figure
from bench.jobs_at_scale import ScriptRun, run_script
from bench.workers import PROJECT_ROOT

SECTION = "6. the API"
SCRIPT = "api_runs"
QUICK_ARGS = {"--runs": "10000", "--deep": "50", "--requests": "50"}

_PAGE = re.compile(
    r"^\s*(?P<page>.+?): median\s+(?P<median>[\d.]+) ms\s+p99\s+(?P<p99>[\d.]+) ms"
    r"\s+\((?P<requests>\d+) requests\)"
)
_SEEDED = re.compile(r"^seeded (?P<runs>[\d,]+) runs .* in (?P<s>[\d.]+) s")
_RATIO = re.compile(r"^deep p99 / first p99 = (?P<ratio>[\d.]+)")


async def measure(config: BenchConfig) -> list[Figure]:
    """The API script's figures, or a row saying why there are none."""
    if not (PROJECT_ROOT / "bench" / f"{SCRIPT}.py").exists():
        return [
            Figure(
                SECTION,
                "first and deep page",
                note=f"not measured: bench/{SCRIPT}.py missing",
            )
        ]
    usage = await asyncio.to_thread(run_script, SCRIPT, "--help")
    args = [
        f"{name}={value}"
        for name, value in QUICK_ARGS.items()
        if config.quick and name in usage.stdout
    ]
    run = await asyncio.to_thread(
        run_script, SCRIPT, *args, accept=(0, 1), env=_servers(config)
    )

    return _figures(run)


def _servers(config: BenchConfig) -> dict[str, str]:
    return {"DATABASE_URL": config.database_url, "REDIS_URL": config.redis_url}


def _figures(run: ScriptRun) -> list[Figure]:
    figures: list[Figure] = []
    runs = "runs"
    for line in (raw.strip() for raw in run.stdout.splitlines()):
        if not line:
            continue
        if seeded := _SEEDED.match(line):
            runs = f"{seeded['runs']} runs"
            figures.append(Figure(SECTION, f"seed {runs} (s)", [float(seeded["s"])]))
        elif page := _PAGE.match(line):
            label = f"GET /api/v1/runs, {page['page']} of {runs}"
            note = f"{page['requests']} requests"
            figures += [
                Figure(SECTION, f"{label}: median (ms)", [float(page["median"])], note),
                Figure(SECTION, f"{label}: p99 (ms)", [float(page["p99"])], note),
            ]
        elif ratio := _RATIO.match(line):
            figures.append(
                Figure(
                    SECTION, "deep page p99 / first page p99", [float(ratio["ratio"])]
                )
            )
        else:
            figures.append(Figure(SECTION, f"bench.{SCRIPT} printed", note=line))
    if run.exit_code:
        figures.append(
            Figure(SECTION, f"bench.{SCRIPT}", note=f"exited with {run.exit_code}")
        )

    return figures
