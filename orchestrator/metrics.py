"""The engine's metrics, recorded through OpenTelemetry and read by Prometheus.

Instruments (Prometheus names in parentheses), labelled by ``graph_name`` and
``task``:

* ``orchestrator.step.duration`` (``orchestrator_step_duration_seconds``): how
  long each attempt ran, from its claim to its outcome, also by ``outcome``;
* ``orchestrator.attempts`` (``orchestrator_attempts_total``): attempts by
  ``outcome``;
* ``orchestrator.attempt.failures`` (``orchestrator_attempt_failures_total``):
  failed attempts (retried or not) by ``error_type``;
* ``orchestrator.queue.lag`` (``orchestrator_queue_lag_seconds``): from an
  attempt becoming due (queued, or the end of its retry backoff) to its start;
* ``orchestrator.runs.finished`` (``orchestrator_runs_finished_total``): runs
  finished by an attempt, by ``status`` (labelled by ``graph_name`` only).

Nothing here reads the global meter provider: callers pass theirs, or ``None``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    make_asgi_app,
    start_http_server,
)

METER_NAME = "orchestrator"

# Seconds: attempts run from milliseconds to an hour.
DURATION_BUCKETS_S = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300,
    600, 1800, 3600,
)  # fmt: skip
# Seconds: a hand-off takes milliseconds; a busy queue, minutes.
LAG_BUCKETS_S = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
    60, 300,
)  # fmt: skip


class EngineMetrics:
    """The instruments attempts record into."""

    def __init__(self, provider: MeterProvider | None = None) -> None:
        meter = (provider or NoOpMeterProvider()).get_meter(METER_NAME)
        self._duration = meter.create_histogram(
            "orchestrator.step.duration",
            unit="s",
            description="How long each attempt of a step ran.",
            explicit_bucket_boundaries_advisory=DURATION_BUCKETS_S,
        )
        self._attempts = meter.create_counter(
            "orchestrator.attempts", description="Attempts of steps, by outcome."
        )
        self._failures = meter.create_counter(
            "orchestrator.attempt.failures",
            description="Failed attempts (retried or not), by error type.",
        )
        self._lag = meter.create_histogram(
            "orchestrator.queue.lag",
            unit="s",
            description="From an attempt becoming due to its start.",
            explicit_bucket_boundaries_advisory=LAG_BUCKETS_S,
        )
        self._runs = meter.create_counter(
            "orchestrator.runs.finished", description="Finished runs, by status."
        )

    def attempt_started(
        self, graph_name: str, task: str, queue_lag_s: float | None
    ) -> None:
        """Record an attempt's first start (``None``: a redelivery, no lag)."""
        if queue_lag_s is not None:
            labels = {"graph_name": graph_name, "task": task}
            self._lag.record(max(0.0, queue_lag_s), labels)

    def attempt_finished(
        self,
        graph_name: str,
        task: str,
        outcome: str,
        duration_s: float,
        error: BaseException | None = None,
    ) -> None:
        """Record an attempt's outcome, duration and, if it failed, its error."""
        labels = {"graph_name": graph_name, "task": task}
        self._attempts.add(1, {**labels, "outcome": outcome})
        self._duration.record(duration_s, {**labels, "outcome": outcome})
        if error is not None:
            self._failures.add(1, {**labels, "error_type": type(error).__name__})

    def run_finished(self, graph_name: str, status: str) -> None:
        self._runs.add(1, {"graph_name": graph_name, "status": status})


class MetricsServer:
    """A Prometheus scrape endpoint (``/metrics``) on a thread of its own."""

    def __init__(self, registry: CollectorRegistry, port: int, host: str) -> None:
        self._server, self._thread = start_http_server(port, host, registry=registry)

    @property
    def port(self) -> int:
        """The bound port (useful when 0 asked for any free one)."""
        return int(self._server.server_port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        with contextlib.suppress(RuntimeError):
            self._thread.join(timeout=5)


def metrics_asgi_app(registry: CollectorRegistry) -> Callable[..., Any]:
    """An ASGI app that answers a Prometheus scrape of ``registry``."""
    return make_asgi_app(registry=registry)


def scrape_endpoint(registry: CollectorRegistry) -> Callable[[Any], Awaitable[Any]]:
    """A Starlette endpoint answering a Prometheus scrape of ``registry``."""
    from starlette.responses import Response

    async def scrape(request: Any) -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return scrape


__all__ = [
    "DURATION_BUCKETS_S",
    "LAG_BUCKETS_S",
    "EngineMetrics",
    "MetricsServer",
    "metrics_asgi_app",
    "scrape_endpoint",
]
