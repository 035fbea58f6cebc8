"""Database engine and sessions (SQLAlchemy 2 async over asyncpg)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event, exc
from sqlalchemy.ext.asyncio import (
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
    """Create an engine whose connections survive a PostgreSQL restart.

    A pooled connection is checked without a round trip (see
    :func:`_refuse_closed`) rather than with SQLAlchemy's ``pool_pre_ping``,
    which on asyncpg costs three (``BEGIN``, a ping, ``ROLLBACK``) on every
    checkout: an attempt checks out a connection for each of its phases, and
    those round trips were a third of a no-op step's hand-off.
    """
    engine = create_async_engine(
        async_url(url), pool_size=pool_size, max_overflow=pool_size
    )
    event.listen(engine.sync_engine.pool, "checkout", _refuse_closed)

    return engine


def _refuse_closed(dbapi_connection: Any, record: Any, proxy: Any) -> None:
    """Replace a pooled connection whose server end has gone away.

    asyncpg reads its socket all the time, so a server that restarted or ended
    the session has already been seen closing it: ``is_closed()`` answers
    without asking the server. Raising ``DisconnectionError`` makes the pool
    discard this connection and hand out another (a new one if need be). A
    connection that breaks between this check and its first statement fails
    that statement, as it would after any ping.
    """
    if dbapi_connection.driver_connection.is_closed():
        msg = "connection closed by the server"
        raise exc.DisconnectionError(msg)


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded attributes after commit."""
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One session inside one transaction, committed on success."""
    async with sessions() as session, session.begin():
        yield session
