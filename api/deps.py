"""Route dependencies: the orchestrator client, sessions, settings and the actor.

Tests replace :func:`get_client` or :func:`get_sessions` through FastAPI's
``dependency_overrides``; everything else reaches the database through them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import Depends, Header, Request
from fastapi.security import HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.errors import ApiError
from api.fields import Name
from orchestrator.client import Orchestrator
from orchestrator.config import Settings
from orchestrator.graph import Graph

# Documents the bearer scheme in OpenAPI; the guard middleware enforces it.
bearer = HTTPBearer(auto_error=False, description="Authorization: Bearer API_TOKEN")


def get_client(request: Request) -> Orchestrator:
    """The orchestrator client the app was started with."""
    client: Orchestrator | None = request.app.state.client
    if client is None:
        msg = "the API has no orchestrator client; create it with create_app()"
        raise RuntimeError(msg)
    return client


def get_sessions(
    client: Annotated[Orchestrator, Depends(get_client)],
) -> async_sessionmaker[AsyncSession]:
    return client.sessions


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_graphs(
    client: Annotated[Orchestrator, Depends(get_client)],
) -> Mapping[str, Graph]:
    return client.graphs


def get_zone(settings: Annotated[Settings, Depends(get_settings)]) -> ZoneInfo:
    return ZoneInfo(settings.schedule_timezone)


def now() -> datetime:
    """The wall clock (a dependency, so tests can pin it)."""
    return datetime.now(UTC)


ClientDep = Annotated[Orchestrator, Depends(get_client)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(get_sessions)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
GraphsDep = Annotated[Mapping[str, Graph], Depends(get_graphs)]
ZoneDep = Annotated[ZoneInfo, Depends(get_zone)]
NowDep = Annotated[datetime, Depends(now)]
ActorHeader = Annotated[
    Name | None,
    Header(alias="X-Actor", description="Who asks (or `actor` in the body)."),
]


def actor_of(*candidates: str | None) -> str:
    """The first name given, in the caller's order of precedence.

    Raises:
        ApiError: 422 when neither the body nor the ``X-Actor`` header names
            who asks.
    """
    for name in candidates:
        if name:
            return name
    detail = (
        "name who asks for this change: send an X-Actor header or an 'actor' "
        "field in the body"
    )
    raise ApiError(422, "actor_required", detail)
