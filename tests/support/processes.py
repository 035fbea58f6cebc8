"""Private servers and worker processes for tests that kill or restart them."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from orchestrator.migrate import upgrade
from rulerepo.services import ServiceUrls, ensure_services, stop_services
from rulerepo.services.layout import ServicePaths
from tests.support.engine import Harness

ROOT = Path(__file__).parents[2]


@contextlib.contextmanager
def private_servers(prefix: str) -> Iterator[tuple[ServicePaths, ServiceUrls]]:
    """Embedded servers of their own, so restarting them disturbs no other test."""
    data_dir = Path(tempfile.mkdtemp(prefix=prefix))
    urls = ensure_services(data_dir)
    upgrade(urls.database_url)
    try:
        yield ServicePaths.of(data_dir), urls
    finally:
        stop_services(data_dir)
        shutil.rmtree(data_dir, ignore_errors=True)


def spawn_worker(h: Harness, **env: str) -> subprocess.Popen[bytes]:
    """A worker process (``tests.support.worker_main``) on the harness's queue."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.support.worker_main"],
        cwd=ROOT,
        env={
            **os.environ,
            "DATABASE_URL": h.database_url,
            "REDIS_URL": h.redis_url,
            "FAULT_REDIS_URL": h.redis_url,
            "FAULT_QUEUE": h.queue_name,
            **env,
        },
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
