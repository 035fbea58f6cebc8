"""Shared fixtures: a fresh PostgreSQL database per test, a private arq queue.

``DATABASE_URL`` and ``REDIS_URL`` name the servers; where they are unset the
session starts the embedded servers the CLI uses. A configured server that cannot
be reached makes the test error with the command that starts it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from orchestrator.db import make_engine, make_sessionmaker
from orchestrator.migrate import upgrade

CORPUS_DIR = Path(
    os.environ.get("RULEREPO_CORPUS_DIR", Path(__file__).parents[2] / "shared" / "data")
)


def _server_urls() -> tuple[str, str]:
    database_url = os.environ.get("DATABASE_URL")
    redis_url = os.environ.get("REDIS_URL")
    if database_url and redis_url:
        return database_url, redis_url
    from orchestrator.config import Settings
    from rulerepo.services import ensure_services

    urls = ensure_services(Settings().rulerepo_data_dir.expanduser().resolve())
    return database_url or urls.database_url, redis_url or urls.redis_url


@pytest.fixture(scope="session")
def server_urls() -> tuple[str, str]:
    return _server_urls()


def _with_database(url: str, name: str) -> str:
    return make_url(url).set(database=name).render_as_string(hide_password=False)


def _asyncpg_dsn(url: str) -> str:
    return _with_database(url, make_url(url).database or "postgres").replace(
        "postgresql+asyncpg://", "postgresql://"
    )


async def _admin(url: str) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(_asyncpg_dsn(url))
    except (OSError, asyncpg.PostgresError) as exc:
        msg = (
            f"PostgreSQL at DATABASE_URL is unreachable ({exc}); start it with "
            "`pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start`"
            " or unset DATABASE_URL to use the embedded server"
        )
        raise RuntimeError(msg) from exc


@pytest.fixture(scope="session")
async def template_db(server_urls: tuple[str, str]) -> AsyncIterator[str]:
    """A database migrated once, cloned by every test that needs one."""
    base = server_urls[0]
    name = f"rr_template_{os.getpid()}"
    conn = await _admin(base)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    import asyncio

    await asyncio.to_thread(upgrade, _with_database(base, name))
    yield name
    conn = await _admin(base)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture
async def db_url(server_urls: tuple[str, str], template_db: str) -> AsyncIterator[str]:
    """The URL of a new database cloned from the migrated template."""
    base = server_urls[0]
    name = f"rr_test_{uuid.uuid4().hex[:12]}"
    conn = await _admin(base)
    await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    await conn.close()
    yield _with_database(base, name)
    conn = await _admin(base)
    await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    await conn.close()


@pytest.fixture
async def conn(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """A driver connection to the test's database, for SQL the engine sends."""
    connection = await asyncpg.connect(_asyncpg_dsn(db_url))
    yield connection
    await connection.close()


@pytest.fixture
async def engine(db_url: str) -> AsyncIterator[AsyncEngine]:
    eng = make_engine(db_url)
    yield eng
    await eng.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return make_sessionmaker(engine)


@pytest.fixture
def redis_url(server_urls: tuple[str, str]) -> str:
    return server_urls[1]


@pytest.fixture
def queue_name() -> str:
    """A private arq queue, so tests can share one Redis."""
    return f"rulerepo:test:{uuid.uuid4().hex[:12]}"


@pytest.fixture
def corpus_dir() -> Path:
    if not (CORPUS_DIR / "asvs").is_dir():
        pytest.skip(
            f"public catalogues not found at {CORPUS_DIR}; set RULEREPO_CORPUS_DIR"
        )
    return CORPUS_DIR


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Print the figures tests reported (fault injection, for example)."""
    from tests.support.figures import REPORTED

    for title, figures in REPORTED:
        terminalreporter.section(title)
        for name, value in figures.items():
            terminalreporter.write_line(f"{name}: {value}")
