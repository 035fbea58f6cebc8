"""Probes: ``/healthz`` (the process answers) and ``/readyz`` (it can work).

Ready means PostgreSQL answers, Redis answers, and at least one worker has
heart-beaten within three heartbeat intervals (by the database's clock, so
clock skew between machines does not matter). Each check is bounded by
:data:`CHECK_TIMEOUT_S`, so a hung dependency makes the probe fail rather than
hang.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api.deps import ClientDep, SettingsDep
from api.models import Health, Readiness

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])
CHECK_TIMEOUT_S = 2.0
HEARTBEATS_MISSED = 3


@router.get("/healthz", response_model=Health)
async def healthz() -> dict[str, Any]:
    """The process is alive."""
    return {"status": "ok"}


async def _bounded(check: Awaitable[tuple[bool, str]]) -> dict[str, Any]:
    try:
        ok, detail = await asyncio.wait_for(check, CHECK_TIMEOUT_S)
    except TimeoutError:
        return {"ok": False, "detail": f"no answer within {CHECK_TIMEOUT_S:.0f} s"}
    except Exception as exc:  # any failure means not ready
        return {"ok": False, "detail": f"{type(exc).__name__}: {exc}"[:300]}
    return {"ok": ok, "detail": detail}


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready; see checks."}},
)
async def readyz(client: ClientDep, settings: SettingsDep) -> Any:
    """PostgreSQL and Redis answer and a worker heart-beats; 503 naming what fails."""
    window_s = HEARTBEATS_MISSED * settings.heartbeat_interval_s

    async def postgres() -> tuple[bool, str]:
        async with client.sessions() as session:
            await session.execute(text("SELECT 1"))
        return True, "reachable"

    async def redis() -> tuple[bool, str]:
        await (await client.redis()).ping()
        return True, "reachable"

    async def worker() -> tuple[bool, str]:
        async with client.sessions() as session:
            live = await session.scalar(
                text(
                    "SELECT count(*) FROM workers WHERE heartbeat_at >"
                    " clock_timestamp() - make_interval(secs => :window)"
                ),
                {"window": window_s},
            )
        if not live:
            return False, f"no worker heart-beat in the last {window_s:g} s"
        return True, f"{live} live worker(s)"

    checks = dict(
        zip(
            ("postgres", "redis", "worker"),
            await asyncio.gather(
                _bounded(postgres()), _bounded(redis()), _bounded(worker())
            ),
            strict=True,
        )
    )
    ready = all(c["ok"] for c in checks.values())
    if not ready:
        failing = ", ".join(name for name, c in checks.items() if not c["ok"])
        logger.warning("not ready: %s", failing, extra={"event": "api.not_ready"})
    body = {"status": "ready" if ready else "unavailable", "checks": checks}

    return JSONResponse(body, status_code=200 if ready else 503)
