"""The ``rulerepo`` CLI's schedule, review, alert, proposal and API commands,
run as subprocesses against real servers."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.support.api import TOKEN, free_port, seed_domain

ROOT = Path(__file__).parents[2]


def _env(db_url: str, redis_url: str, queue: str) -> dict[str, str]:
    return {
        **os.environ,
        "DATABASE_URL": db_url,
        "REDIS_URL": redis_url,
        "QUEUE_NAME": queue,
        "API_TOKEN": TOKEN,
    }


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rulerepo", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _json(env: dict[str, str], *args: str) -> Any:
    result = _cli(env, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


async def test_cli_alerts_proposals_and_reviews(
    db_url: str,
    redis_url: str,
    queue_name: str,
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Listings print JSON arrays with the documented fields; ack, resolve,
    approve, dismiss and review change state once and print the result."""
    await seed_domain(sessions)
    env = _env(db_url, redis_url, queue_name)

    alerts = _json(env, "alerts")
    open_one = _json(env, "alerts", "--status", "open", "--limit", "1")
    acked = _json(
        env, "ack", str(open_one[0]["id"]), "--actor", "ann", "--note", "seen"
    )
    resolved = _json(env, "resolve", str(open_one[0]["id"]))
    approved = _json(env, "approve", "P-1", "--reviewer", "alice")
    twice = _cli(env, "approve", "P-1", "--reviewer", "alice")
    dismissed = _json(env, "dismiss", "P-2", "--reviewer", "bob", "--note", "dup")
    reviewed = _json(
        env, "review", "R1", "--reviewer", "carol", "--at", "2026-11-20T10:00Z"
    )
    proposals = _json(env, "proposals")
    rules = _json(env, "rules", "--status", "active")

    assert len(alerts) == 3
    assert set(alerts[0]) >= {
        "id",
        "kind",
        "severity",
        "status",
        "rule_id",
        "locale",
        "details",
    }
    assert len(open_one) == 1
    assert (acked["status"], acked["acknowledged_by"]) == ("acknowledged", "ann")
    assert resolved["status"] == "resolved"
    assert (approved["status"], approved["rule_id"]) == ("approved", "R-P-1")
    assert twice.returncode == 3
    assert "already approved by alice" in twice.stderr
    assert twice.stdout == ""
    assert dismissed["status"] == "dismissed"
    assert reviewed["reviewed_at"] == "2026-11-20T10:00:00+00:00"
    assert {p["id"]: p["status"] for p in proposals} == {
        "P-1": "approved",
        "P-2": "dismissed",
        "P-3": "dismissed",
    }
    assert set(proposals[0]) >= {"id", "status", "title", "correction_ids"}
    assert {r["id"]: r["maturity"] for r in rules} == {
        "R-P-1": "experimental",
        "R1": "stable",
        "R2": "experimental",
    }
    assert set(rules[0]) >= {"id", "maturity", "status", "health"}


def test_cli_schedules_backfill_and_run_actions(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """graphs shows each schedule; pause, resume and backfill act on it; the runs
    a backfill started can be listed and cancelled."""
    env = _env(db_url, redis_url, queue_name)

    graphs = {g["name"]: g for g in _json(env, "graphs")}
    paused = _json(env, "pause", "cluster_corrections", "--actor", "ops")
    resumed = _json(env, "resume", "cluster_corrections")
    filled = _json(
        env,
        "backfill",
        "cluster_corrections",
        "--from",
        "2026-11-01T00:00Z",
        "--to",
        "2026-11-03T00:00Z",
    )
    runs = _json(env, "runs", "--graph", "cluster_corrections")
    cancelled = _json(env, "cancel", runs[0]["id"])
    refused = _cli(env, "retry", runs[0]["id"], "fetch")

    flywheel = graphs["cluster_corrections"]
    assert flywheel["schedule"] == "0 5 * * *"
    assert flywheel["paused"] is False
    assert flywheel["next_slot"].endswith("T05:00:00+00:00")
    assert graphs["propagate_norm_amendment"]["next_slot"] is None
    assert (paused["name"], paused["paused"]) == ("cluster_corrections", True)
    assert resumed["paused"] is False
    assert (filled["slots"], filled["created"]) == (2, 2)
    assert len(runs) == 2
    assert {r["logical_time"] for r in runs} == {
        "2026-11-01T05:00:00+00:00",
        "2026-11-02T05:00:00+00:00",
    }
    assert set(runs[0]) >= {
        "id",
        "graph",
        "status",
        "trigger",
        "actor",
        "logical_time",
        "trace_id",
        "steps",
    }
    assert cancelled["status"] == "cancelled"
    assert {s["status"] for s in cancelled["steps"]} == {"cancelled"}
    assert refused.returncode == 3
    assert "only failed steps can be retried" in refused.stderr


def test_cli_run_wait_shows_progress(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """`run --worker` without --json ends with the progress view of the steps."""
    env = _env(db_url, redis_url, queue_name)

    result = _cli(
        env, "run", "cluster_corrections", "--at", "2026-11-30T05:00Z", "--worker"
    )

    assert result.returncode == 0, result.stderr
    assert "5/5 steps finished" in result.stdout
    assert "store" in result.stdout


def test_cli_api_serves_until_interrupted(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """`rulerepo api --port N` answers /healthz and the run history, and stops on
    SIGINT."""
    env = _env(db_url, redis_url, queue_name)
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "rulerepo", "api", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        health = None
        while health is None and time.monotonic() < deadline:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            except httpx.TransportError:
                time.sleep(0.1)
        runs = httpx.get(f"http://127.0.0.1:{port}/api/v1/runs", timeout=5)
        refused = httpx.post(f"http://127.0.0.1:{port}/api/v1/graphs/x/runs", timeout=5)
    finally:
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)

    assert health is not None
    assert health.json() == {"status": "ok"}
    assert runs.json() == {"items": [], "next_cursor": None}
    assert refused.status_code == 401
    assert process.returncode == 0, stderr
