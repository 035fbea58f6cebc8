"""Spans of runs and attempts: one OpenTelemetry trace per run.

The trigger opens a short ``Run:<graph_name>`` span and stores its W3C
``traceparent`` on the run; every attempt of every step is a child span
``Attempt:<task>`` parented from that stored context, so arq jobs carry only
ids. Task names stay few even in expanded graphs, while step keys may not:
identifiers go in ``orchestrator.*`` attributes.

Nothing here reads the global tracer provider: callers pass theirs, or ``None``
for no spans. :func:`sampler` is the sampler a provider must use so that a
worker's idle polling, heartbeats and sweeps make no spans.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import (
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
)
from opentelemetry.trace import (
    Link,
    NoOpTracerProvider,
    Span,
    SpanKind,
    Status,
    StatusCode,
    Tracer,
    TracerProvider,
    format_trace_id,
)
from opentelemetry.trace.propagation.tracecontext import (
    TraceContextTextMapPropagator,
)
from opentelemetry.trace.span import TraceState
from opentelemetry.util.types import Attributes

TRACER_NAME = "orchestrator"
RUN_SPAN_PREFIX = "Run:"
ATTEMPT_SPAN_PREFIX = "Attempt:"

RUN_ID = "orchestrator.run_id"
GRAPH_NAME = "orchestrator.graph_name"
STEP_KEY = "orchestrator.step_key"
ATTEMPT = "orchestrator.attempt"
TASK = "orchestrator.task"
TRIGGER = "orchestrator.trigger"
LOGICAL_TIME = "orchestrator.logical_time"
OUTCOME = "orchestrator.outcome"

_PROPAGATOR = TraceContextTextMapPropagator()


class Outcome(StrEnum):
    """How an attempt ended, as its span and metrics tell it.

    ``retrying`` is a failed attempt with another one queued; ``fenced`` one
    that could not commit because it was superseded; ``lost`` one interrupted
    by its worker stopping (arq delivers it again, or the sweep records it
    lost).
    """

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    RETRYING = "retrying"
    LOST = "lost"
    FENCED = "fenced"
    CANCELLED = "cancelled"


FAILED_OUTCOMES = frozenset({Outcome.FAILED, Outcome.RETRYING})


class RunsAndRequestsSampler(Sampler):
    """Samples a root span only if it is a run or a server request.

    Used as the root sampler of :func:`sampler`: database and Redis calls made
    outside a run's attempt or an API request (arq's polling, heartbeats, the
    sweep) start root spans, which this drops.
    """

    def __init__(self, *, requests: bool = True) -> None:
        self._requests = requests

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        sampled = name.startswith(RUN_SPAN_PREFIX) or (
            self._requests and kind == SpanKind.SERVER
        )
        if not sampled:
            return SamplingResult(Decision.DROP)
        parent = trace.get_current_span(parent_context).get_span_context()

        return SamplingResult(
            Decision.RECORD_AND_SAMPLE,
            attributes,
            parent.trace_state if parent.is_valid else None,
        )

    def get_description(self) -> str:
        what = "runs and server requests" if self._requests else "runs"
        return f"RunsAndRequestsSampler{{{what}}}"


def sampler() -> Sampler:
    """Follow the parent; as a root, keep only runs and server requests.

    A run is traced even when its caller's context was not sampled (an API
    request that arrived with an unsampled ``traceparent``).
    """
    runs_only = RunsAndRequestsSampler(requests=False)

    return ParentBased(
        root=RunsAndRequestsSampler(),
        remote_parent_not_sampled=runs_only,
        local_parent_not_sampled=runs_only,
    )


def tracer(provider: TracerProvider | None) -> Tracer:
    """The orchestrator's tracer from ``provider``; ``None`` makes no spans."""
    return (provider or NoOpTracerProvider()).get_tracer(TRACER_NAME)


def traceparent_of(span: Span) -> str | None:
    """The W3C ``traceparent`` header of ``span``, or ``None`` if it is invalid."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))

    return carrier.get("traceparent")


def context_of(traceparent: str | None) -> Context | None:
    """The context a stored ``traceparent`` names (``None`` if absent)."""
    if not traceparent:
        return None

    return _PROPAGATOR.extract({"traceparent": traceparent})


def trace_id_of(traceparent: str | None) -> str | None:
    """The 32-hex-digit trace id inside a ``traceparent``, if it is valid."""
    extracted = context_of(traceparent)
    if extracted is None:
        return None
    parent = trace.get_current_span(extracted).get_span_context()

    return format_trace_id(parent.trace_id) if parent.is_valid else None


@dataclass
class RunTrace:
    """The ``Run:<graph_name>`` span of a trigger, started once a run is created.

    A trigger that answers with an existing run, or is refused, discards the
    span unended, so it makes no span at all.
    """

    tracer: Tracer
    graph_name: str
    parent: Context | None
    caller_traceparent: str | None
    span: Span | None = None
    _token: object | None = field(default=None, repr=False)

    def start(
        self, run_id: uuid.UUID, *, trigger: str, logical_time: datetime
    ) -> dict[str, str | None]:
        """Open the span as the current one; returns the run's trace columns.

        Returns:
            ``traceparent`` and ``trace_id`` to store on the run: the span's,
            or the caller's when no tracer provider was given.
        """
        self.span = self.tracer.start_span(
            f"{RUN_SPAN_PREFIX}{self.graph_name}",
            context=self.parent,
            attributes={
                RUN_ID: str(run_id),
                GRAPH_NAME: self.graph_name,
                TRIGGER: str(trigger),
                LOGICAL_TIME: logical_time.isoformat(),
            },
        )
        self._token = otel_context.attach(trace.set_span_in_context(self.span))
        traceparent = traceparent_of(self.span) or self.caller_traceparent

        return {"traceparent": traceparent, "trace_id": trace_id_of(traceparent)}

    def discard(self) -> None:
        """Drop the started span unended: the trigger answered with an existing
        run or was refused, and no span is exported for it."""
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]
        self.span = None
        self._token = None

    def finish(self, error: BaseException | None) -> None:
        if self.span is None:
            return
        if error is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.end()
        if self._token is not None:
            otel_context.detach(self._token)  # type: ignore[arg-type]


@contextlib.contextmanager
def run_trace(
    provider: TracerProvider | None,
    graph_name: str,
    *,
    traceparent: str | None = None,
) -> Iterator[RunTrace]:
    """A run's span for the block, opened by :meth:`RunTrace.start`.

    Args:
        traceparent: the caller's W3C context (for example from an event) to
            parent the run's span; by default the current context (the API
            request's span, when the API is instrumented).
    """
    run = RunTrace(tracer(provider), graph_name, context_of(traceparent), traceparent)
    try:
        yield run
    except BaseException as exc:
        run.finish(exc)
        raise
    run.finish(None)


@dataclass
class AttemptSpan:
    """The span of one attempt while it runs; records how it ended.

    Attributes:
        run_status: the run's final status, when this attempt finished its run.
    """

    span: Span
    outcome: Outcome | None = None
    error: BaseException | None = None
    run_status: str | None = None

    @property
    def trace_id(self) -> str | None:
        """The trace this span records into (``None`` when it records nothing)."""
        ctx = self.span.get_span_context()
        recorded = ctx.is_valid and self.span.is_recording()

        return format_trace_id(ctx.trace_id) if recorded else None

    def finish(
        self,
        outcome: Outcome,
        error: BaseException | None = None,
        *,
        run_status: str | None = None,
    ) -> None:
        """Record the outcome (and the exception of a failed attempt)."""
        self.outcome, self.error, self.run_status = outcome, error, run_status
        self.span.set_attribute(OUTCOME, outcome.value)
        if error is not None:
            self.span.record_exception(error)
            self.span.set_status(
                Status(StatusCode.ERROR, f"{type(error).__name__}: {error}"[:500])
            )
        elif outcome is Outcome.LOST:
            self.span.set_status(
                Status(StatusCode.ERROR, "the worker stopped before the attempt ended")
            )


@contextlib.contextmanager
def attempt_span(
    tracer_: Tracer,
    *,
    task: str,
    traceparent: str | None,
    attributes: Mapping[str, str | int],
) -> Iterator[AttemptSpan]:
    """The ``Attempt:<task>`` span, current for the block, child of the run.

    An attempt interrupted without an outcome (the worker shutting down) is
    recorded as ``lost``.
    """
    span = tracer_.start_span(
        f"{ATTEMPT_SPAN_PREFIX}{task}",
        context=context_of(traceparent),
        kind=SpanKind.INTERNAL,
        attributes={**attributes, TASK: task},
    )
    attempt = AttemptSpan(span)
    try:
        with trace.use_span(
            span,
            end_on_exit=False,
            record_exception=False,
            set_status_on_exception=False,
        ):
            yield attempt
    except BaseException as exc:
        if attempt.outcome is None:
            attempt.finish(Outcome.LOST, exc if isinstance(exc, Exception) else None)
        raise
    finally:
        span.end()
