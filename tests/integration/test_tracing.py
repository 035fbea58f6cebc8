"""Traced runs through a real worker: spans, log identity, metrics and export."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import Expansion, Graph, RetryPolicy, Step, task
from orchestrator.logs import install_identity_filter
from orchestrator.states import Trigger
from orchestrator.telemetry import Telemetry, build_telemetry, instrument_app
from tests.support.engine import Harness, harness, wait_for
from tests.support.telemetry import (
    db_label,
    default_label,
    is_db,
    memory_telemetry,
    orphans,
    span_tree,
    trace_ids,
)

logger = logging.getLogger(__name__)

FAST = RetryPolicy(max_attempts=3, backoff=timedelta(milliseconds=20), jitter=0.5)


async def _effect(ctx: StepContext) -> None:
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )
    logger.info("step wrote its effect", extra={"event": "trace_test.effect"})


@task("trace_write")
async def trace_write(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    return {"step": ctx.step_key}


@task("trace_flaky")
async def trace_flaky(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    if ctx.attempt == 1:
        msg = "transient failure on the first attempt"
        raise ConnectionError(msg)
    return {"attempt": ctx.attempt}


@task("trace_expand")
async def trace_expand(ctx: StepContext) -> Expansion:
    await _effect(ctx)
    steps = [Step(f"item-{i}", "trace_write", retry=FAST) for i in range(2)]
    return Expansion(steps=steps, edges=[], output={"expanded": 2})


def _graphs() -> dict[str, Graph]:
    traced = Graph(
        "traced",
        [
            Step("load", trace_write, retry=FAST),
            Step("flaky", trace_flaky, retry=FAST),
            Step("plan", trace_expand, retry=FAST),
            Step("report", trace_write, retry=FAST),
        ],
        [("load", "flaky"), ("load", "plan"), ("flaky", "report"), ("plan", "report")],
    )
    pair = Graph(
        "traced_pair",
        [Step("first", trace_write, retry=FAST), Step("second", trace_write)],
        [("first", "second")],
    )
    return {g.name: g for g in (traced, pair)}


@contextlib.asynccontextmanager
async def _traced_harness(
    telemetry: Telemetry, db_url: str, redis_url: str, queue_name: str
) -> AsyncIterator[Harness]:
    async with harness(
        _graphs(),
        db_url,
        redis_url,
        queue_name,
        tracer_provider=telemetry.tracer_provider,
    ) as h:
        async with h.client.sessions() as s, s.begin():
            await s.execute(
                text("CREATE TABLE effects (run_id uuid, step_key text, attempt int)")
            )
        yield h


@pytest.fixture
def memory() -> Iterator[tuple[Telemetry, Any]]:
    telemetry, exporter = memory_telemetry()
    yield telemetry, exporter
    telemetry.shutdown()


async def _run_trace(h: Harness, run_id: uuid.UUID) -> tuple[str | None, str | None]:
    async with h.client.sessions() as s:
        row = (
            await s.execute(
                text("SELECT trace_id, traceparent FROM runs WHERE id = :r"),
                {"r": run_id},
            )
        ).one()
    return row[0], row[1]


def _attempt_spans(exporter: Any) -> list[Any]:
    return [s for s in exporter.get_finished_spans() if s.name.startswith("Attempt:")]


EXPECTED_TREE = """\
Run:traced
  Attempt:trace_flaky flaky#1 retrying ERROR ConnectionError
    db INSERT effects
  Attempt:trace_flaky flaky#2 succeeded
    db INSERT effects
  Attempt:trace_write item-0#1 succeeded
    db INSERT effects
  Attempt:trace_write item-1#1 succeeded
    db INSERT effects
  Attempt:trace_write load#1 succeeded
    db INSERT effects
  Attempt:trace_expand plan#1 succeeded
    db INSERT effects
  Attempt:trace_write report#1 succeeded
    db INSERT effects"""


async def test_run_trace_is_one_tree_with_every_attempt(
    memory, db_url, redis_url, queue_name, caplog
):
    """A run with a retried and an expanded step is one trace: every attempt
    under the run's span, the steps' database work under their attempts, and
    every log record written inside a step carries run, step, attempt and trace.
    """
    telemetry, exporter = memory
    install_identity_filter(caplog.handler)
    caplog.set_level(logging.INFO)
    async with _traced_harness(telemetry, db_url, redis_url, queue_name) as h:
        await h.start_worker(telemetry=telemetry)
        run_id = await h.run("traced")
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        await wait_for(lambda: len(_attempt_spans(exporter)) == 7)
        trace_id, traceparent = await _run_trace(h, run_id)
    spans = exporter.get_finished_spans()

    assert span_tree(spans, default_label, db_label("effects")) == EXPECTED_TREE
    assert trace_ids(spans) == {trace_id}
    assert trace_id is not None
    assert traceparent is not None
    assert trace_id in traceparent
    assert orphans(spans) == []
    for attempt in _attempt_spans(exporter):
        inner = [
            s for s in spans if s.parent and s.parent.span_id == attempt.context.span_id
        ]
        assert sum(1 for s in inner if is_db(s)) >= 3, attempt.name
    effects = [r for r in caplog.records if r.event == "trace_test.effect"]
    assert {(r.step_key, r.attempt) for r in effects} == {
        ("load", 1), ("flaky", 1), ("flaky", 2), ("plan", 1),
        ("item-0", 1), ("item-1", 1), ("report", 1),
    }  # fmt: skip
    assert {(r.run_id, r.graph_name, r.trace_id) for r in effects} == {
        (str(run_id), "traced", trace_id)
    }


async def test_run_metrics_are_scraped_from_the_worker(db_url, redis_url, queue_name):
    """After a run, the worker's metrics endpoint shows step durations, attempts
    by outcome, failures, queue lag and the finished run for that graph."""
    telemetry, _exporter = memory_telemetry()
    async with _traced_harness(telemetry, db_url, redis_url, queue_name) as h:
        worker = await h.start_worker(
            telemetry=telemetry, metrics_port=0, metrics_host="127.0.0.1"
        )
        run_id = await h.run("traced")
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        port = worker.ctx["metrics_server"].port
        async with httpx.AsyncClient() as http:

            async def scraped() -> dict[tuple[str, frozenset[Any]], float] | None:
                body = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
                found = {
                    (s.name, frozenset(s.labels.items())): s.value
                    for family in text_string_to_metric_families(body)
                    for s in family.samples
                    if s.labels.get("graph_name") == "traced"
                }
                done = ("orchestrator_runs_finished_total", _labels(status="succeeded"))
                return found if done in found else None

            samples = await wait_for(scraped)
    telemetry.shutdown()

    write, flaky = _labels(task="trace_write"), _labels(task="trace_flaky")
    assert samples["orchestrator_step_duration_seconds_count", write | _ok()] == 4
    assert samples["orchestrator_attempts_total", write | _ok()] == 4
    assert samples["orchestrator_attempts_total", flaky | _ok()] == 1
    retrying = flaky | _labels(outcome="retrying")
    assert samples["orchestrator_attempts_total", retrying] == 1
    failure = flaky | _labels(error_type="ConnectionError")
    assert samples["orchestrator_attempt_failures_total", failure] == 1
    assert samples["orchestrator_queue_lag_seconds_count", write] == 4
    assert samples["orchestrator_runs_finished_total", _labels(status="succeeded")] == 1


def _labels(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset({"graph_name": "traced", **labels}.items())


def _ok() -> frozenset[tuple[str, str]]:
    return frozenset({("outcome", "succeeded")})


class _Receiver(ThreadingHTTPServer):
    """A minimal OTLP/HTTP trace receiver on loopback."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _ReceiverHandler)
        self.requests: list[ExportTraceServiceRequest] = []
        self.paths: list[str] = []

    def spans(self) -> list[tuple[dict[str, str], str, bytes, dict[str, str]]]:
        """(service name, span name, trace id, attributes) of every span."""
        found = []
        for request in list(self.requests):
            for resource_spans in request.resource_spans:
                resource = {
                    a.key: a.value.string_value
                    for a in resource_spans.resource.attributes
                }
                for scope in resource_spans.scope_spans:
                    for span in scope.spans:
                        attrs = {
                            a.key: a.value.string_value or str(a.value.int_value)
                            for a in span.attributes
                        }
                        found.append((resource, span.name, span.trace_id, attrs))
        return found


class _ReceiverHandler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        self.server.paths.append(self.path)
        self.server.requests.append(request)
        reply = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, format: str, *args: Any) -> None:
        """Keep the test output quiet."""


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


async def test_run_spans_are_exported_over_otlp_http(
    receiver, monkeypatch, db_url, redis_url, queue_name
):
    """With OTEL_EXPORTER_OTLP_ENDPOINT set, a run's spans reach an OTLP/HTTP
    receiver as one trace, from a resource named rulerepo-worker."""
    monkeypatch.setenv(
        "OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_port}"
    )
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    monkeypatch.delenv("OTEL_SERVICE_NAME", raising=False)
    telemetry = build_telemetry("rulerepo-worker")
    try:
        async with _traced_harness(telemetry, db_url, redis_url, queue_name) as h:
            await h.start_worker(telemetry=telemetry)
            run_id = await h.run("traced_pair")
            assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
            trace_id, _ = await _run_trace(h, run_id)

            def received() -> list[Any]:
                telemetry.tracer_provider.force_flush()  # type: ignore[union-attr]
                names = [name for _, name, _, _ in receiver.spans()]
                return names if names.count("Attempt:trace_write") == 2 else []

            await wait_for(lambda: asyncio.to_thread(received))
    finally:
        telemetry.shutdown()

    spans = receiver.spans()
    assert set(receiver.paths) == {"/v1/traces"}
    assert {tid.hex() for _, _, tid, _ in spans} == {trace_id}
    assert {res["service.name"] for res, _, _, _ in spans} == {"rulerepo-worker"}
    assert all(res.get("service.instance.id") for res, _, _, _ in spans)
    attempts = sorted(
        (a["orchestrator.step_key"], a["orchestrator.outcome"])
        for _, name, _, a in spans
        if name == "Attempt:trace_write"
    )
    assert attempts == [("first", "succeeded"), ("second", "succeeded")]
    assert [name for _, name, _, _ in spans].count("Run:traced_pair") == 1


async def test_idle_worker_exports_no_spans(memory, db_url, redis_url, queue_name):
    """A worker that polls, heart-beats and sweeps for a few seconds with no
    run exports nothing, while the same worker traces a run it then gets."""
    telemetry, exporter = memory
    async with _traced_harness(telemetry, db_url, redis_url, queue_name) as h:
        await h.start_worker(telemetry=telemetry)

        async def idle_for_seconds() -> bool:
            async with h.client.sessions() as s:
                lived = await s.scalar(
                    text("SELECT max(heartbeat_at - started_at) FROM workers")
                )
            return lived is not None and lived >= timedelta(seconds=3)

        await wait_for(idle_for_seconds)
        idle_spans = list(exporter.get_finished_spans())
        run_id = await h.run("traced_pair")
        assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
        await wait_for(lambda: len(_attempt_spans(exporter)) == 2)

    assert idle_spans == []
    assert any(is_db(s) for s in exporter.get_finished_spans())


async def test_api_request_and_run_share_one_trace(
    memory, db_url, redis_url, queue_name
):
    """Through an app instrumented with instrument_app, the request's server span
    parents the run it triggers, and the app serves its metrics."""
    telemetry, exporter = memory
    async with _traced_harness(telemetry, db_url, redis_url, queue_name) as h:
        app = FastAPI()

        @app.post("/runs/{graph}")
        async def trigger(graph: str) -> dict[str, str]:
            result = await h.client.trigger(
                graph,
                logical_time=datetime(2026, 11, 30, 5, tzinfo=UTC),
                trigger=Trigger.API,
                actor="test",
            )
            return {"run_id": str(result.run_id)}

        instrument_app(app, telemetry)
        await h.start_worker(telemetry=telemetry)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://api") as c:
            run_id = uuid.UUID((await c.post("/runs/traced_pair")).json()["run_id"])
            assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
            await wait_for(lambda: len(_attempt_spans(exporter)) == 2)
            scrape = await c.get("/metrics")

    assert span_tree(exporter.get_finished_spans()) == (
        "POST /runs/{graph}\n"
        "  Run:traced_pair\n"
        "    Attempt:trace_write first#1 succeeded\n"
        "    Attempt:trace_write second#1 succeeded"
    )
    assert len(trace_ids(exporter.get_finished_spans())) == 1
    assert scrape.status_code == 200
    assert "orchestrator_attempts_total" in scrape.text
