"""Tracing and metrics without I/O: sampling, trace context, exporters, metrics."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode
from prometheus_client import generate_latest

from orchestrator import tracing
from orchestrator.logs import IdentityFilter
from orchestrator.telemetry import (
    AttemptFacts,
    Telemetry,
    build_telemetry,
    service_resource,
    span_exporters_from_environment,
)
from orchestrator.tracing import Outcome
from tests.support.telemetry import memory_telemetry, span_tree

_OTEL_VARIABLES = (
    "OTEL_TRACES_EXPORTER",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in _OTEL_VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def provider():
    exporter = InMemorySpanExporter()
    tracer_provider = TracerProvider(sampler=tracing.sampler())
    tracer_provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield tracer_provider, exporter
    tracer_provider.shutdown()


def test_sampler_drops_root_spans_other_than_runs_and_requests(provider):
    """A root span that is neither a run nor a server request is not recorded,
    nor is anything under it; runs, requests and their children are."""
    tracer_provider, exporter = provider
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("SELECT postgres", kind=SpanKind.CLIENT):
        with tracer.start_as_current_span("EVAL"):
            pass
    with tracer.start_as_current_span("POST /runs", kind=SpanKind.SERVER):
        with tracer.start_as_current_span("Run:g"):
            with tracer.start_as_current_span("INSERT postgres"):
                pass
    with tracer.start_as_current_span("Run:h"):
        pass

    assert span_tree(exporter.get_finished_spans(), lambda s: s.name) == (
        "POST /runs\n  Run:g\n    INSERT postgres\nRun:h"
    )


def test_sampler_traces_a_run_under_an_unsampled_request(provider):
    """A run triggered from a request that was not sampled is still traced."""
    tracer_provider, exporter = provider
    unsampled = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00"
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span(
        "GET /x", context=tracing.context_of(unsampled), kind=SpanKind.SERVER
    ):
        with tracer.start_as_current_span("Run:g"):
            with tracer.start_as_current_span("SELECT postgres"):
                pass

    names = [s.name for s in exporter.get_finished_spans()]
    assert names == ["SELECT postgres", "Run:g"]


def test_traceparent_round_trips_to_the_same_trace(provider):
    """A span's traceparent names its trace and parents a span in that trace."""
    tracer_provider, exporter = provider
    tracer = tracer_provider.get_tracer("test")
    with tracer.start_as_current_span("Run:g") as span:
        traceparent = tracing.traceparent_of(span)
    with tracer.start_as_current_span(
        "Attempt:t", context=tracing.context_of(traceparent)
    ):
        pass

    run, attempt = sorted(exporter.get_finished_spans(), key=lambda s: s.name)[::-1]
    assert traceparent is not None
    assert tracing.trace_id_of(traceparent) == f"{run.context.trace_id:032x}"
    assert attempt.parent is not None
    assert attempt.parent.span_id == run.context.span_id


def test_trace_id_of_refuses_missing_or_malformed_traceparents():
    """Nothing, or a malformed traceparent, has no trace id."""
    assert tracing.trace_id_of(None) is None
    assert tracing.trace_id_of("not-a-traceparent") is None


def test_run_trace_makes_no_span_unless_started(provider):
    """A trigger that answers with an existing run makes no span; a created run
    gets one span with its ids, whose context the stored fields name."""
    tracer_provider, exporter = provider
    with tracing.run_trace(tracer_provider, "g"):
        pass
    run_id = uuid.uuid4()
    with tracing.run_trace(tracer_provider, "g") as traced:
        fields = traced.start(
            run_id, trigger="api", logical_time=datetime(2026, 1, 1, tzinfo=UTC)
        )

    (span,) = exporter.get_finished_spans()
    assert span.name == "Run:g"
    assert dict(span.attributes or {}) == {
        "orchestrator.run_id": str(run_id),
        "orchestrator.graph_name": "g",
        "orchestrator.trigger": "api",
        "orchestrator.logical_time": "2026-01-01T00:00:00+00:00",
    }
    assert fields["trace_id"] == f"{span.context.trace_id:032x}"
    assert str(fields["traceparent"]).startswith(
        f"00-{span.context.trace_id:032x}-{span.context.span_id:016x}-"
    )


def _fail_after_start(tracer_provider: TracerProvider) -> None:
    with tracing.run_trace(tracer_provider, "g") as traced:
        traced.start(uuid.uuid4(), trigger="cli", logical_time=datetime.now(UTC))
        msg = "redis went away"
        raise ConnectionError(msg)


def test_run_trace_records_an_error_after_the_run_was_started(provider):
    """A failure after the run's span opened is recorded on it with status ERROR."""
    tracer_provider, exporter = provider
    with pytest.raises(ConnectionError):
        _fail_after_start(tracer_provider)

    (span,) = exporter.get_finished_spans()
    assert span.status.status_code is StatusCode.ERROR
    assert [e.name for e in span.events] == ["exception"]


def test_run_trace_keeps_the_callers_traceparent_without_a_provider():
    """With no tracer provider, a caller's traceparent is stored as given."""
    given = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    with tracing.run_trace(None, "g", traceparent=given) as traced:
        fields = traced.start(
            uuid.uuid4(), trigger="event", logical_time=datetime.now(UTC)
        )

    assert fields == {
        "traceparent": given,
        "trace_id": "0af7651916cd43dd8448eb211c80319c",
    }


def _facts(traceparent: str | None) -> AttemptFacts:
    return AttemptFacts(
        run_id=uuid.uuid4(),
        step_key="embed",
        attempt=2,
        task="embed_corrections",
        graph_name="cluster_corrections",
        traceparent=traceparent,
        queue_lag_s=0.004,
    )


def _run_traceparent(telemetry: Telemetry) -> str | None:
    tracer = telemetry.tracer_provider.get_tracer("test")  # type: ignore[union-attr]
    with tracer.start_as_current_span("Run:cluster_corrections") as run:
        return tracing.traceparent_of(run)


async def test_attempt_interrupted_without_an_outcome_is_lost():
    """An attempt cancelled by its worker stopping ends its span as lost, ERROR."""
    telemetry, exporter = memory_telemetry()
    facts = _facts(_run_traceparent(telemetry))
    with pytest.raises(asyncio.CancelledError), telemetry.attempt(facts):
        raise asyncio.CancelledError

    attempt = next(s for s in exporter.get_finished_spans() if s.name.startswith("A"))
    assert (attempt.attributes or {})["orchestrator.outcome"] == "lost"
    assert attempt.status.status_code is StatusCode.ERROR
    assert 'outcome="lost"' in _scrape(telemetry)
    telemetry.shutdown()


def test_attempt_of_an_untraced_run_makes_no_span():
    """An attempt whose run has no stored trace context starts no trace, and
    its logs name none."""
    telemetry, exporter = memory_telemetry()
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "inside", None, None)
    with telemetry.attempt(_facts(None)) as span:
        IdentityFilter().filter(record)
        span.finish(Outcome.SUCCEEDED)
    telemetry.shutdown()

    assert exporter.get_finished_spans() == ()
    assert vars(record)["trace_id"] is None


def test_attempt_failure_is_recorded_on_its_span_and_counted():
    """A failed attempt's span carries the exception, status ERROR and its ids,
    and the failure is counted by error type."""
    telemetry, exporter = memory_telemetry()
    error = TimeoutError("the embedder did not answer")
    with telemetry.attempt(_facts(_run_traceparent(telemetry))) as span:
        span.finish(Outcome.RETRYING, error)

    attempt = next(s for s in exporter.get_finished_spans() if s.name.startswith("A"))
    assert attempt.name == "Attempt:embed_corrections"
    assert attempt.status.status_code is StatusCode.ERROR
    assert (attempt.attributes or {})["orchestrator.outcome"] == "retrying"
    assert (attempt.attributes or {})["orchestrator.step_key"] == "embed"
    assert (attempt.attributes or {})["orchestrator.attempt"] == 2
    assert [e.name for e in attempt.events] == ["exception"]
    scraped = _scrape(telemetry)
    assert (
        'orchestrator_attempt_failures_total{error_type="TimeoutError",'
        'graph_name="cluster_corrections",task="embed_corrections"} 1.0'
    ) in scraped
    assert 'orchestrator_queue_lag_seconds_count{graph_name="cluster_corrections"' in (
        scraped
    )
    telemetry.shutdown()


def test_attempt_logs_carry_the_runs_trace_id_without_a_tracer():
    """With telemetry off, the attempt's log identity still names the run's trace."""
    traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, "inside", None, None)
    with Telemetry().attempt(_facts(traceparent)) as span:
        IdentityFilter().filter(record)
        span.finish(Outcome.SUCCEEDED)

    assert vars(record)["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert vars(record)["graph_name"] == "cluster_corrections"


def _scrape(telemetry: Telemetry) -> str:
    assert telemetry.registry is not None
    return generate_latest(telemetry.registry).decode()


def test_exporters_are_off_unless_the_environment_asks():
    """No OTEL_* variable: nothing is exported."""
    assert span_exporters_from_environment() == []


def test_otlp_endpoint_selects_the_otlp_http_exporter(monkeypatch):
    """OTEL_EXPORTER_OTLP_ENDPOINT alone selects OTLP over HTTP."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")

    (exporter,) = span_exporters_from_environment()
    assert isinstance(exporter, OTLPSpanExporter)


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        ("console", [ConsoleSpanExporter]),
        ("none", []),
        ("console,none", [ConsoleSpanExporter]),
    ],
)
def test_traces_exporter_variable_names_the_exporters(monkeypatch, names, expected):
    """OTEL_TRACES_EXPORTER picks the exporters, endpoint or not."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", names)

    assert [type(e) for e in span_exporters_from_environment()] == expected


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin_json", "'zipkin_json'"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", "'grpc'"),
    ],
)
def test_exporter_that_is_not_installed_is_refused(monkeypatch, variable, value, named):
    """An exporter or OTLP protocol that is not installed is a clear error."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")
    monkeypatch.setenv(variable, value)

    with pytest.raises(ValueError, match=named):
        span_exporters_from_environment()


def test_resource_names_the_service_and_its_instance(monkeypatch):
    """The resource carries service.name and service.instance.id, and
    OTEL_SERVICE_NAME overrides the name."""
    resource = service_resource("rulerepo-worker", "host:1:abc")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "renamed")
    renamed = service_resource("rulerepo-worker")

    assert resource.attributes["service.name"] == "rulerepo-worker"
    assert resource.attributes["service.instance.id"] == "host:1:abc"
    assert renamed.attributes["service.name"] == "renamed"
    assert renamed.attributes["service.instance.id"]


def test_built_telemetry_samples_runs_and_drops_idle_roots():
    """Telemetry built for a service uses the runs-and-requests sampler (and,
    exporting nothing, says so)."""
    telemetry = build_telemetry("rulerepo-worker", span_exporters=[])
    assert not telemetry.traces_exported
    tracer = telemetry.tracer_provider.get_tracer("test")  # type: ignore[union-attr]

    with tracer.start_as_current_span("SELECT postgres") as idle:
        assert not idle.is_recording()
    with tracer.start_as_current_span("Run:g") as run:
        assert run.is_recording()
    telemetry.shutdown()
