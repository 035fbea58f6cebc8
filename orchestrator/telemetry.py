"""A process's telemetry: tracer and meter providers, exporters, instrumentation.

:func:`build_telemetry` makes the providers a service uses, from the standard
``OTEL_*`` environment variables:

* spans go over OTLP/HTTP when ``OTEL_EXPORTER_OTLP_ENDPOINT`` (or
  ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) is set, to the console (standard
  error) with ``OTEL_TRACES_EXPORTER=console``, and nowhere otherwise;
  ``OTEL_TRACES_EXPORTER`` takes a comma-separated list (``none`` for none);
  the exporter reads its own headers, timeout and compression variables and
  the batch processor its ``OTEL_BSP_*`` ones;
* the resource carries ``service.name`` and ``service.instance.id``;
  ``OTEL_SERVICE_NAME`` and ``OTEL_RESOURCE_ATTRIBUTES`` override them;
* metrics are kept for a Prometheus scrape of :attr:`Telemetry.registry`.

The engine's own spans and the instrumented libraries (SQLAlchemy, Redis,
httpx, FastAPI) all use the providers handed in here, never the global ones.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any

from opentelemetry.environment_variables import OTEL_TRACES_EXPORTER
from opentelemetry.metrics import MeterProvider, NoOpMeterProvider
from opentelemetry.sdk.environment_variables import (
    OTEL_EXPORTER_OTLP_ENDPOINT,
    OTEL_EXPORTER_OTLP_PROTOCOL,
    OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
    OTEL_EXPORTER_OTLP_TRACES_PROTOCOL,
)
from opentelemetry.sdk.metrics import MeterProvider as SdkMeterProvider
from opentelemetry.sdk.resources import (
    SERVICE_INSTANCE_ID,
    SERVICE_NAME,
    OTELResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider as SdkTracerProvider
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SimpleSpanProcessor,
    SpanExporter,
)
from opentelemetry.trace import SpanKind, Tracer, TracerProvider
from prometheus_client import CollectorRegistry

from orchestrator import tracing
from orchestrator.logs import identity
from orchestrator.metrics import EngineMetrics, MetricsServer, scrape_endpoint
from orchestrator.tracing import AttemptSpan, Outcome

logger = logging.getLogger(__name__)

WORKER_SERVICE = "rulerepo-worker"
API_SERVICE = "rulerepo-api"
CLI_SERVICE = "rulerepo-cli"

_OTLP_NAMES = frozenset({"otlp", "otlp_proto_http"})
_OTLP_HTTP_PROTOCOL = "http/protobuf"


@dataclass
class Telemetry:
    """One process's tracer and meter providers and its Prometheus registry.

    ``Telemetry()`` is telemetry switched off: no spans, no metrics.

    Attributes:
        traces_exported: False when no exporter receives the spans. A worker
            then leaves its database and Redis clients uninstrumented (their
            spans cost more than the steps' own work in a fast chain) and
            traces only runs and attempts, whose trace ids still stamp logs.
    """

    tracer_provider: TracerProvider | None = None
    meter_provider: MeterProvider | None = None
    registry: CollectorRegistry | None = None
    traces_exported: bool = True
    tracer: Tracer = field(init=False, repr=False)
    metrics: EngineMetrics = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.tracer = tracing.tracer(self.tracer_provider)
        self.metrics = EngineMetrics(self.meter_provider)

    def shutdown(self) -> None:
        """Export what is still buffered and stop the providers."""
        if isinstance(self.tracer_provider, SdkTracerProvider):
            self.tracer_provider.shutdown()
        if isinstance(self.meter_provider, SdkMeterProvider):
            self.meter_provider.shutdown()

    def statement(
        self, sql: str, database: str | None
    ) -> contextlib.AbstractContextManager[Any]:
        """A client span for a statement the engine sends through the driver.

        The attempt's own statements (lock, completion, commit) bypass
        SQLAlchemy, whose instrumentation would otherwise trace them; like it,
        this traces only when spans are exported.
        """
        if not self.traces_exported or self.tracer_provider is None:
            return contextlib.nullcontext()
        operation = sql.split(None, 1)[0].rstrip(";").upper()
        return self.tracer.start_as_current_span(
            f"{operation} {database}",
            kind=SpanKind.CLIENT,
            attributes={
                "db.system": "postgresql",
                "db.name": database or "",
                "db.operation": operation,
                "db.statement": sql,
            },
        )

    @contextlib.contextmanager
    def attempt(self, facts: AttemptFacts) -> Iterator[AttemptSpan]:
        """Trace, time and count one attempt; logs inside carry its trace id."""
        self.metrics.attempt_started(facts.graph_name, facts.task, facts.queue_lag_s)
        started = time.perf_counter()
        with tracing.attempt_span(
            self.tracer,
            task=facts.task,
            traceparent=facts.traceparent,
            attributes={
                tracing.RUN_ID: str(facts.run_id),
                tracing.GRAPH_NAME: facts.graph_name,
                tracing.STEP_KEY: facts.step_key,
                tracing.ATTEMPT: facts.attempt,
            },
        ) as span:
            trace_id = span.trace_id or tracing.trace_id_of(facts.traceparent)
            try:
                with identity(trace_id=trace_id, graph_name=facts.graph_name):
                    yield span
            finally:
                self._record(facts, span, time.perf_counter() - started)

    def _record(self, facts: AttemptFacts, span: AttemptSpan, elapsed_s: float) -> None:
        outcome = span.outcome or Outcome.LOST
        self.metrics.attempt_finished(
            facts.graph_name, facts.task, outcome.value, elapsed_s, span.error
        )
        if span.run_status is not None:
            self.metrics.run_finished(facts.graph_name, span.run_status)


@dataclass(frozen=True)
class AttemptFacts:
    """What an attempt's span and metrics are labelled with, read at its claim."""

    run_id: uuid.UUID
    step_key: str
    attempt: int
    task: str
    graph_name: str
    traceparent: str | None
    queue_lag_s: float | None


def service_resource(service_name: str, instance_id: str | None = None) -> Resource:
    """The resource of one service instance; ``OTEL_*`` variables override it."""
    own = Resource.create(
        {
            SERVICE_NAME: service_name,
            SERVICE_INSTANCE_ID: instance_id or str(uuid.uuid4()),
        }
    )

    return own.merge(OTELResourceDetector().detect())


def span_exporters_from_environment() -> list[SpanExporter]:
    """The span exporters the ``OTEL_*`` variables ask for (see the module doc).

    Raises:
        ValueError: an exporter name or OTLP protocol that is not installed.
    """
    names = os.environ.get(OTEL_TRACES_EXPORTER)
    if names is None:
        endpoint = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or os.environ.get(
            OTEL_EXPORTER_OTLP_ENDPOINT
        )
        names = "otlp" if endpoint else "none"
    wanted = [n.strip().lower() for n in names.split(",") if n.strip()]

    return [_span_exporter(name) for name in wanted if name != "none"]


def _span_exporter(name: str) -> SpanExporter:
    if name == "console":
        return ConsoleSpanExporter(out=sys.stderr)
    if name in _OTLP_NAMES:
        protocol = os.environ.get(OTEL_EXPORTER_OTLP_TRACES_PROTOCOL) or os.environ.get(
            OTEL_EXPORTER_OTLP_PROTOCOL, _OTLP_HTTP_PROTOCOL
        )
        if protocol.strip() != _OTLP_HTTP_PROTOCOL:
            msg = (
                f"OTLP protocol {protocol!r} is not installed; set "
                f"OTEL_EXPORTER_OTLP_PROTOCOL={_OTLP_HTTP_PROTOCOL} (OTLP over HTTP)"
            )
            raise ValueError(msg)
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter,
        )

        return OTLPSpanExporter()
    found = entry_points(group="opentelemetry_traces_exporter", name=name)
    if not found:
        msg = (
            f"OTEL_TRACES_EXPORTER names {name!r}, which is not installed; use "
            "otlp, console or none"
        )
        raise ValueError(msg)
    exporter: SpanExporter = next(iter(found)).load()()

    return exporter


def build_telemetry(
    service_name: str,
    *,
    instance_id: str | None = None,
    span_exporters: list[SpanExporter] | None = None,
) -> Telemetry:
    """Providers for one service, exporting as the environment asks.

    Args:
        span_exporters: export to these instead (each span as it ends, for
            tests with an in-memory exporter); by default the exporters the
            ``OTEL_*`` variables name, batched.
    """
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    resource = service_resource(service_name, instance_id)
    tracer_provider = SdkTracerProvider(sampler=tracing.sampler(), resource=resource)
    if span_exporters is None:
        exporters = span_exporters_from_environment()
        for exporter in exporters:
            tracer_provider.add_span_processor(BatchSpanProcessor(exporter))
    else:
        exporters = span_exporters
        for exporter in exporters:
            tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    registry = CollectorRegistry(auto_describe=True)
    # Instrument names are distinct without their scope: no otel_scope_* labels.
    reader = PrometheusMetricReader(scope_info_enabled=False, registry=registry)
    meter_provider = SdkMeterProvider(resource=resource, metric_readers=[reader])

    return Telemetry(
        tracer_provider, meter_provider, registry, traces_exported=bool(exporters)
    )


def instrument_engine(
    engine: Any,
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Trace the statements of a SQLAlchemy engine (async or sync).

    Statements outside a run's attempt or a request start root spans, which
    the sampler drops. ``None`` leaves the engine as it is.
    """
    if tracer_provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy import __name__ as scope
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.semconv.metrics import MetricInstruments

    tracer = tracer_provider.get_tracer(scope)
    meter = (meter_provider or NoOpMeterProvider()).get_meter(scope)
    usage = meter.create_up_down_counter(
        MetricInstruments.DB_CLIENT_CONNECTIONS_USAGE, unit="connections"
    )
    sync_engine = getattr(engine, "sync_engine", engine)
    EngineTracer(tracer, sync_engine, usage)  # type: ignore[no-untyped-call]


def instrument_redis(client: Any, tracer_provider: TracerProvider | None) -> None:
    """Trace the commands of one Redis client (an arq pool included).

    ``None`` leaves the client as it is.
    """
    if tracer_provider is None:
        return
    from opentelemetry.instrumentation.redis import RedisInstrumentor

    RedisInstrumentor.instrument_client(client, tracer_provider=tracer_provider)


def instrument_http_clients(
    tracer_provider: TracerProvider | None,
    meter_provider: MeterProvider | None = None,
) -> None:
    """Trace every httpx request this process makes (patches httpx once).

    Only for a process's composition root: the patch is process-wide, bound to
    the providers of its first call. ``None`` patches nothing.
    """
    if tracer_provider is None:
        return
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    instrumentor = HTTPXClientInstrumentor()
    if not instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.instrument(
            tracer_provider=tracer_provider,
            meter_provider=meter_provider or NoOpMeterProvider(),
        )


def instrument_app(
    app: Any, telemetry: Telemetry, *, metrics_path: str | None = "/metrics"
) -> None:
    """Trace a FastAPI app's requests and serve its metrics at ``metrics_path``.

    Each request is a server span (the root of its trace, or the child of the
    caller's ``traceparent``); a run triggered while serving it opens its
    ``Run:`` span under it, so the request and the run share one trace. Scrapes
    of ``metrics_path`` make no spans.
    """
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

    if metrics_path is not None and telemetry.registry is not None:
        app.add_route(
            metrics_path, scrape_endpoint(telemetry.registry), include_in_schema=False
        )
    if telemetry.tracer_provider is None:
        return
    FastAPIInstrumentor.instrument_app(
        app,
        tracer_provider=telemetry.tracer_provider,
        meter_provider=telemetry.meter_provider or NoOpMeterProvider(),
        excluded_urls=metrics_path,
        exclude_spans=["receive", "send"],
    )


def serve_metrics(telemetry: Telemetry, port: int, host: str) -> MetricsServer:
    """Serve ``telemetry``'s metrics for Prometheus on ``host:port``.

    Raises:
        ValueError: ``telemetry`` keeps no metrics registry.
    """
    if telemetry.registry is None:
        msg = "this telemetry keeps no metrics registry; build it with build_telemetry"
        raise ValueError(msg)
    server = MetricsServer(telemetry.registry, port, host)
    logger.info(
        "serving metrics on %s:%d",
        host,
        server.port,
        extra={"event": "metrics.serving"},
    )

    return server


__all__ = [
    "API_SERVICE",
    "CLI_SERVICE",
    "WORKER_SERVICE",
    "AttemptFacts",
    "Telemetry",
    "build_telemetry",
    "instrument_app",
    "instrument_engine",
    "instrument_http_clients",
    "instrument_redis",
    "serve_metrics",
    "service_resource",
    "span_exporters_from_environment",
]
