"""A worker process of the engine for benchmarks: ``python -m bench.worker_main``.

Serves the no-op benchmark tasks, the flywheel and norm propagation, with the settings a
deployed worker has by default (``WORKER_CONCURRENCY`` 10, poll 0.5 s as a
fallback to the wake channel, heartbeat and sweep every 5 s) and the deployed
worker's telemetry (spans sampled but exported nowhere, metrics kept). Reads
``DATABASE_URL``, ``REDIS_URL`` and ``BENCH_QUEUE``; ``BENCH_LOG_LEVEL``
(default WARNING) sets the log level, and ``BENCH_POLL_S`` the fallback poll
(for diagnosis; the benchmarks leave it at 0.5 s). Stops on SIGTERM.
"""

from __future__ import annotations

import logging
import os
from datetime import timedelta

import bench.noop_graphs
import graphs.cluster_corrections
import graphs.propagate_norm_amendment
from orchestrator.config import Settings
from orchestrator.telemetry import WORKER_SERVICE, build_telemetry
from orchestrator.worker import WorkerConfig, build_worker

# Imported for the tasks they register.
REGISTERS = (
    bench.noop_graphs,
    graphs.cluster_corrections,
    graphs.propagate_norm_amendment,
)


def main() -> None:
    """Run one worker until SIGTERM."""
    logging.basicConfig(level=os.environ.get("BENCH_LOG_LEVEL", "WARNING"))
    defaults = Settings()
    config = WorkerConfig(
        database_url=os.environ["DATABASE_URL"],
        redis_url=os.environ["REDIS_URL"],
        queue_name=os.environ["BENCH_QUEUE"],
        concurrency=defaults.worker_concurrency,
        poll_delay=timedelta(seconds=float(os.environ.get("BENCH_POLL_S", "0.5"))),
        sweep_interval=timedelta(seconds=defaults.sweep_interval_s),
        heartbeat_interval=timedelta(seconds=defaults.heartbeat_interval_s),
        lost_grace=timedelta(seconds=defaults.lost_grace_s),
        telemetry=build_telemetry(WORKER_SERVICE),
    )
    build_worker(config).run()


if __name__ == "__main__":
    main()
