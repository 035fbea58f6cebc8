"""The FastAPI application: ``create_app(settings)`` builds it.

The app talks to the deployment through one :class:`~orchestrator.client.Orchestrator`
(graphs, database sessions, queue), created at start-up from the settings, or
handed in by the caller (tests, an embedding process), in which case the caller
keeps ownership and closes it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import FastAPI
from opentelemetry.trace import TracerProvider
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from api.errors import install_error_handlers
from api.guard import MAX_BODY_BYTES, Guard
from api.routes import domain, graphs, health, runs
from orchestrator.client import Orchestrator
from orchestrator.config import Settings
from orchestrator.graph import Graph

API_PREFIX = "/api/v1"
LOCK_TIMEOUT = timedelta(seconds=3)
DESCRIPTION = """
Run history, retries and schedules of the Rule Repository's maintenance graphs,
and the domain actions people take on their results (alerts, reviews, proposals,
norm amendments).

* Every change (`POST`) needs `Authorization: Bearer <API_TOKEN>` and names who
  asks, with an `X-Actor` header or an `actor` field in the body.
* Every list is keyset-paginated: `?limit=` (1 to 500) and `?cursor=` (the
  `next_cursor` of the previous page); `next_cursor` is null on the last page.
* Times are ISO 8601 with a zone.
* Refusals carry `detail` (a sentence) and `code`.
"""


def create_app(
    settings: Settings,
    *,
    client: Orchestrator | None = None,
    graphs_by_name: Mapping[str, Graph] | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
    tracer_provider: TracerProvider | None = None,
    lock_timeout: timedelta = LOCK_TIMEOUT,
) -> FastAPI:
    """The status API for one deployment.

    Args:
        settings: database and Redis URLs, queue, token, time zone.
        client: an orchestrator client to use (and leave open); by default one
            is created at start-up and closed at shutdown.
        graphs_by_name: the graphs to serve when the app creates its client;
            default every graph of the deployment.
        max_body_bytes: the largest request body accepted (413 beyond).
        tracer_provider: traces the runs the app's own client triggers.
        lock_timeout: how long a request waits for a row another transaction
            holds (a running step attempt holds its step's row) before it is
            answered 409; set on the client's database connections.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = None
        if app.state.client is None:
            owned = _client(settings, graphs_by_name, tracer_provider)
            bound_lock_waits(owned.engine, lock_timeout)
            app.state.client = owned
        try:
            yield
        finally:
            if owned is not None:
                app.state.client = None
                await owned.close()

    app = FastAPI(
        title="Rule Repository status API",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # The interactive documentation pages load their scripts from a CDN;
        # the schema itself is served at /openapi.json.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.client = client
    # A stand-in client in tests may have no engine.
    if getattr(client, "engine", None) is not None:
        assert client is not None
        bound_lock_waits(client.engine, lock_timeout)
    install_error_handlers(app)
    app.include_router(health.router)
    for router in (graphs.router, runs.router, domain.router):
        app.include_router(router, prefix=API_PREFIX)
    token = settings.api_token.get_secret_value() if settings.api_token else None
    app.add_middleware(
        Guard,
        token=token,
        read_token_required=settings.api_read_token_required,
        max_body_bytes=max_body_bytes,
    )

    return app


def bound_lock_waits(engine: AsyncEngine, timeout: timedelta) -> None:
    """Make each connection of ``engine`` give up waiting for a lock after
    ``timeout`` (PostgreSQL ``lock_timeout``), so no request hangs behind a
    running step."""
    milliseconds = max(1, int(timeout.total_seconds() * 1000))

    def on_checkout(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        if record.info.get("lock_timeout_ms") == milliseconds:
            return
        dbapi_connection.run_async(
            lambda raw: raw.execute(f"SET lock_timeout = {milliseconds}")
        )
        record.info["lock_timeout_ms"] = milliseconds

    event.listen(engine.sync_engine, "checkout", on_checkout)


def _client(
    settings: Settings,
    graphs_by_name: Mapping[str, Graph] | None,
    tracer_provider: TracerProvider | None,
) -> Orchestrator:
    if not settings.database_url or not settings.redis_url:
        msg = (
            "the API needs DATABASE_URL and REDIS_URL (`rulerepo api` starts the "
            "embedded servers when both are unset)"
        )
        raise RuntimeError(msg)
    if graphs_by_name is None:
        from graphs import all_graphs

        graphs_by_name = all_graphs()
    return Orchestrator(
        graphs_by_name,
        settings.database_url,
        settings.redis_url,
        settings.queue_name,
        tracer_provider=tracer_provider,
    )
