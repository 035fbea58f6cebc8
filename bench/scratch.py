"""Scratch resources: a migrated database and a private arq queue per benchmark.

Each benchmark creates its database next to ``DATABASE_URL``'s (``CREATE
DATABASE``, then the packaged migrations), and drops it when it ends, however it
ends. Its queue name is unique, and its Redis keys are deleted afterwards.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace

import asyncpg
from redis.asyncio import Redis
from sqlalchemy.engine import make_url

from orchestrator.migrate import upgrade_async

logger = logging.getLogger(__name__)

CONNECT_TIMEOUT_S = 10.0


class ServersUnreachableError(RuntimeError):
    """PostgreSQL or Redis cannot be reached, or their URL cannot be read."""


def _shown(url: str) -> str:
    """``url`` with its password hidden (SQLAlchemy's parser reads Redis URLs too)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return repr(url)


async def check_servers(database_url: str, redis_url: str) -> None:
    """Connect to both servers once, so a bad setting fails before any work.

    Raises:
        ServersUnreachableError: naming the server, its URL (password hidden)
            and the variable that sets it.
    """
    await check_database(database_url)
    await check_redis(redis_url)


async def check_database(database_url: str) -> None:
    """Connect to PostgreSQL once (see ``check_servers``)."""
    try:
        conn = await asyncpg.connect(admin_dsn(database_url), timeout=CONNECT_TIMEOUT_S)
        await conn.close()
    except Exception as exc:
        error = _unusable("PostgreSQL", _shown(database_url), "DATABASE_URL", exc)
        raise error from exc


async def check_redis(redis_url: str) -> None:
    """Ping Redis once (see ``check_servers``)."""
    try:
        redis = Redis.from_url(redis_url, socket_connect_timeout=CONNECT_TIMEOUT_S)
        try:
            await redis.ping()
        finally:
            await redis.aclose()
    except Exception as exc:
        error = _unusable("Redis", _shown(redis_url), "REDIS_URL", exc)
        raise error from exc


def _unusable(
    server: str, shown: str, variable: str, exc: Exception
) -> ServersUnreachableError:
    return ServersUnreachableError(
        f"cannot use {server} at {shown} ({variable}): {type(exc).__name__}: {exc}"
    )


def admin_dsn(url: str) -> str:
    """``url`` as asyncpg takes it (no SQLAlchemy driver suffix)."""
    return (
        make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


def with_database(url: str, name: str) -> str:
    """``url`` pointing at the database ``name`` on the same server."""
    return make_url(url).set(database=name).render_as_string(hide_password=False)


@dataclass(frozen=True)
class Scratch:
    """A benchmark's own database and queue."""

    database_url: str
    redis_url: str
    queue_name: str

    def queue(self, suffix: str) -> Scratch:
        """The same database with a queue of its own (removed with this one's)."""
        return replace(self, queue_name=f"{self.queue_name}:{suffix}")


@asynccontextmanager
async def scratch(
    base_database_url: str, redis_url: str, label: str
) -> AsyncIterator[Scratch]:
    """A freshly migrated database and an unused queue name, removed afterwards."""
    suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
    name = f"rr_bench_{label}_{suffix}"
    admin = await asyncpg.connect(admin_dsn(base_database_url))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = with_database(base_database_url, name)
    queue = f"rr-bench:{label}:{suffix}"
    try:
        await upgrade_async(url)
        logger.info(
            "scratch database %s migrated", name, extra={"event": "bench.scratch"}
        )
        yield Scratch(url, redis_url, queue)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        await delete_queue_keys(redis_url, queue)


async def delete_queue_keys(redis_url: str, queue_name: str) -> None:
    """Delete the keys named after ``queue_name`` (queue, health checks)."""
    redis = Redis.from_url(redis_url)
    try:
        keys = [k async for k in redis.scan_iter(match=f"{queue_name}*")]
        if keys:
            await redis.delete(*keys)
    finally:
        await redis.aclose()
