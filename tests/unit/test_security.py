"""Nothing read from Redis can run code: JSON on both sides, no pickle anywhere."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

from orchestrator.executor import json_dumps, json_loads
from orchestrator.worker import WorkerConfig, build_worker

ROOT = Path(__file__).parents[2]
PACKAGES = ("orchestrator", "tasks", "graphs", "api", "rulerepo", "migrations")


def test_no_module_of_the_project_uses_pickle() -> None:
    """No source file of the project imports or calls pickle."""
    offenders = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if re.search(
            r"\bimport pickle\b|\bpickle\.|\bfrom pickle\b", path.read_text("utf-8")
        )
    ]

    assert offenders == []


async def test_worker_serialises_jobs_as_json() -> None:
    """The worker reads and writes arq jobs with the JSON serializer."""
    # Inside a running loop: arq's Worker takes the current loop, and outside one
    # it would create a loop that nothing closes.
    worker = build_worker(
        WorkerConfig(
            database_url="postgresql://x@127.0.0.1/x",
            redis_url="redis://127.0.0.1:6379/0",
            poll_delay=timedelta(seconds=1),
        ),
        handle_signals=False,
    )

    assert worker.job_serializer is json_dumps
    assert worker.job_deserializer is json_loads


def test_json_serializer_refuses_to_execute_anything() -> None:
    """A pickle payload planted in Redis is not valid JSON, so it is never loaded."""
    planted = (
        b"\x80\x04\x95\x15\x00\x00\x00\x00\x00\x00\x00"
        b"\x8c\x02os\x94\x8c\x06system\x94\x93\x94."
    )

    try:
        json_loads(planted)
    except (UnicodeDecodeError, json.JSONDecodeError):
        refused = True
    else:
        refused = False

    assert refused
    assert json_loads(json_dumps({"a": [1, "b"]})) == {"a": [1, "b"]}
