"""The ``rulerepo`` CLI against real servers: ``--json`` output and exit codes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]


def _cli(
    db_url: str, redis_url: str, queue: str, *args: str
) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "QUEUE_NAME": queue,
    }
    return subprocess.run(
        [sys.executable, "-m", "rulerepo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_cli_run_with_worker_json_prints_one_document(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """`run --worker --json` runs the graph here and prints only the run as JSON."""
    result = _cli(
        db_url,
        redis_url,
        queue_name,
        "run",
        "cluster_corrections",
        "--at",
        "2026-11-30T05:00:00+00:00",
        "--worker",
        "--json",
    )

    assert result.returncode == 0, result.stderr
    run = json.loads(result.stdout)
    assert run["graph"] == "cluster_corrections"
    assert run["status"] == "succeeded"
    assert run["trigger"] == "cli"
    assert [s["key"] for s in run["steps"]] == [
        "fetch",
        "embed",
        "cluster",
        "draft",
        "store",
    ]
    fields = {"key", "status", "attempts", "error", "started_at", "finished_at"}
    assert set(run["steps"][0]) >= fields

    listing = _cli(db_url, redis_url, queue_name, "runs", "--json")
    assert listing.returncode == 0, listing.stderr
    runs = json.loads(listing.stdout)
    assert [r["id"] for r in runs] == [run["id"]]

    shown = _cli(db_url, redis_url, queue_name, "show", run["id"], "--json")
    assert json.loads(shown.stdout)["id"] == run["id"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("run", "no_such_graph"), "no graph named 'no_such_graph'"),
        (
            ("run", "cluster_corrections", "--at", "2026-11-30T05:00"),
            "has no time zone",
        ),
        (("show", "not-a-uuid"), "is not a run id"),
        (("run", "cluster_corrections", "--param", "x"), "must look like KEY=VALUE"),
    ],
)
def test_cli_bad_input_names_the_problem(
    db_url: str, redis_url: str, queue_name: str, args: tuple[str, ...], message: str
) -> None:
    """Bad arguments exit non-zero with a message that names what is wrong."""
    result = _cli(db_url, redis_url, queue_name, *args)

    assert result.returncode != 0
    assert message in result.stderr
    assert result.stdout == ""


def test_cli_listings_json_are_arrays(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """`rules`, `alerts` and `proposals` print JSON arrays, empty on a new database."""
    for command in ("rules", "alerts", "proposals", "runs"):
        result = _cli(db_url, redis_url, queue_name, command, "--json")
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []
