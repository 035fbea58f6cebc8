"""Database engine and sessions (SQLAlchemy 2 async over asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)


def async_url(url: str) -> str:
    """Return ``url`` with the asyncpg driver, whatever scheme it was given in."""
    for prefix in ("postgresql+asyncpg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    msg = (
        f"DATABASE_URL must be a postgresql:// URL, got scheme of {url.split(':')[0]!r}"
    )
    raise ValueError(msg)


def make_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """Create an engine whose connections survive a PostgreSQL restart."""
    return create_async_engine(
        async_url(url),
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
    )


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def autocommit(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncConnection]:
    """A connection whose every statement commits on its own (one round trip)."""
    engine = sessions.kw["bind"]
    async with engine.connect() as conn:
        yield await conn.execution_options(isolation_level="AUTOCOMMIT")


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One session inside one transaction, committed on success."""
    async with sessions() as session, session.begin():
        yield session
