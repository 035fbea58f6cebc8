"""Alembic environment: runs migrations over an async connection."""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from orchestrator.db import make_engine
from orchestrator.models import OrchestratorBase
from tasks.schema import DomainBase

target_metadata = [OrchestratorBase.metadata, DomainBase.metadata]


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=target_metadata)
    with context.begin_transaction():
        context.run_migrations()


async def _main(url: str) -> None:
    engine = make_engine(url, pool_size=1)
    async with engine.connect() as connection:
        await connection.run_sync(_run)
        await connection.commit()
    await engine.dispose()


def run_migrations_online() -> None:
    url = context.config.get_main_option("sqlalchemy.url")
    if url is None:
        msg = "no database URL was given to the migrations"
        raise RuntimeError(msg)
    asyncio.run(_main(url))


run_migrations_online()
