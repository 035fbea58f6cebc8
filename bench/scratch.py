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

DEFAULT_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"


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
