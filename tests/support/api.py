"""Helpers to exercise the status API: an in-process client and a real server."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import text

from api import create_app
from orchestrator.config import Settings
from tests.support.engine import Harness, wait_for

TOKEN = "test-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Actor": "tester"}


def settings_for(h: Harness, **overrides: Any) -> Settings:
    """Settings naming the harness's servers, with a token unless overridden."""
    values: dict[str, Any] = {
        "api_token": TOKEN,
        "database_url": h.database_url,
        "redis_url": h.redis_url,
        "queue_name": h.queue_name,
        "heartbeat_interval_s": 0.5,
        **overrides,
    }
    return Settings(**values)


def app_for(h: Harness, **overrides: Any) -> FastAPI:
    """The API on the harness's orchestrator client (which the harness closes);
    a request gives up on a locked row after half a second."""
    return create_app(
        settings_for(h, **overrides),
        client=h.client,
        lock_timeout=timedelta(milliseconds=500),
    )


@contextlib.asynccontextmanager
async def api_client(h: Harness, **overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client calling the app in-process (no socket)."""
    transport = httpx.ASGITransport(app=app_for(h, **overrides))
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        yield client


async def wait_status(
    client: httpx.AsyncClient, run_id: str, statuses: set[str], timeout_s: float = 30
) -> dict[str, Any]:
    """Poll ``GET /runs/{id}`` until the run has one of ``statuses``."""

    async def reached() -> dict[str, Any] | None:
        run: dict[str, Any] = (await client.get(f"/api/v1/runs/{run_id}")).json()
        return run if run["status"] in statuses else None

    result: dict[str, Any] = await wait_for(reached, timeout_s=timeout_s)
    return result


def free_port() -> int:
    """A loopback TCP port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextlib.asynccontextmanager
async def serve(app: FastAPI, *, access_log: bool = False) -> AsyncIterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port; yields its base URL.

    With ``access_log`` every request is logged on ``uvicorn.access`` (INFO).
    """
    port = free_port()
    config = uvicorn.Config(
        app,
        host="127.0.0.1",
        port=port,
        log_config=None,
        log_level="info" if access_log else "warning",
        access_log=access_log,
        lifespan="on",
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        await wait_for(lambda: server.started or task.done(), timeout_s=10)
        if task.done():
            task.result()
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, 10)


SEED_T = "2026-11-01T00:00:00Z"

_SEED = [
    """INSERT INTO norms (id, title, text, version, source) VALUES
       ('N1', 'Access control', 'x', 1, 'test'), ('N2', 'Logging', 'x', 1, 'test')""",
    """INSERT INTO rules (id, title, text, locale, version, maturity, status,
           created_at, review_interval_days, legal_hold, scope, effect,
           required_locales, examples, source, review_requested_at)
       VALUES
       ('R1', 'Deny exports', 'x', 'en', 1, 'stable', 'active', '2026-01-01Z', 180,
        false, 'security', 'deny', '{}', '[]', 'test', '2026-10-01Z'),
       ('R2', 'Allow reads', 'x', 'de', 1, 'experimental', 'active', '2026-01-01Z',
        90, false, 'privacy', 'allow', '{}', '[]', 'test', NULL)""",
    """INSERT INTO lineage VALUES ('R1', 'N1', 'rule', 'norm'),
       ('R2', 'R1', 'rule', 'rule')""",
    """INSERT INTO alerts (kind, severity, rule_id, locale, subject, status, details,
           first_seen_at, last_seen_at)
       VALUES
       ('norm_amended', 'warning', 'R1', NULL, 'R1', 'open', '{"norm_id": "N1"}',
        '2026-10-01Z', '2026-10-02Z'),
       ('dormant', 'info', 'R2', NULL, 'R2', 'open', '{}', '2026-10-01Z',
        '2026-10-01Z'),
       ('unhealthy', 'critical', 'R1', NULL, 'R1', 'resolved', '{"overall": 12}',
        '2026-09-01Z', '2026-09-02Z')""",
    """INSERT INTO corrections (id, rule_id, analysis_type, status, delta_summary,
           confidence, created_at, proposal_id)
       SELECT 'C' || i, 'R1', 'false_positive', 'processed', 'summary ' || i, 0.9,
              '2026-10-01Z', 'P-1'
       FROM generate_series(1, 3) i""",
    """INSERT INTO proposals (id, status, title, text, rationale, correction_ids,
           figures, logical_time)
       VALUES
       ('P-1', 'pending', 'Deny exports to personal mail', 'Deny them.', 'Three said so',
        '{C1,C2,C3}', '{"size": 3}', '2026-10-02Z'),
       ('P-2', 'pending', 'Second proposal', 'Text.', 'Why', '{}', '{}', '2026-10-02Z'),
       ('P-3', 'dismissed', 'Old proposal', 'Text.', 'Why', '{}', '{}',
        '2026-09-02Z')""",
]


async def seed_domain(sessions: Any) -> None:
    """Two norms, two rules with lineage, three alerts, three proposals."""
    async with sessions() as session, session.begin():
        for statement in _SEED:
            await session.execute(text(statement))
