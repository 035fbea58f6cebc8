"""A worker process for fault tests: ``python -m tests.support.worker_main``.

Reads DATABASE_URL, REDIS_URL and FAULT_QUEUE from the environment and serves the
fault graphs until killed.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import tests.support.fault_tasks  # noqa: F401 - registers the tasks
from orchestrator.worker import WorkerConfig, build_worker


def main() -> None:
    logging.basicConfig(level=logging.INFO)
    config = WorkerConfig(
        database_url=os.environ["DATABASE_URL"],
        redis_url=os.environ["REDIS_URL"],
        queue_name=os.environ["FAULT_QUEUE"],
        poll_delay=timedelta(seconds=0.2),
        sweep_interval=timedelta(seconds=0.5),
        heartbeat_interval=timedelta(seconds=0.5),
        lost_grace=timedelta(seconds=float(os.environ.get("FAULT_GRACE_S", "3"))),
    )
    build_worker(config).run()


if __name__ == "__main__":
    main()
