"""Helpers to assert on traces: in-memory telemetry and span trees as text."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import (
    InMemorySpanExporter,
)
from opentelemetry.trace import SpanKind, StatusCode

from orchestrator import tracing
from orchestrator.telemetry import Telemetry, build_telemetry


def memory_telemetry(
    service_name: str = "rulerepo-test",
) -> tuple[Telemetry, InMemorySpanExporter]:
    """Telemetry whose spans land, as each ends, in the returned exporter."""
    exporter = InMemorySpanExporter()
    return build_telemetry(service_name, span_exporters=[exporter]), exporter


def _statement(span: ReadableSpan) -> str | None:
    attrs = span.attributes or {}
    value = attrs.get("db.statement") or attrs.get("db.query.text")
    return str(value) if value is not None else None


def is_db(span: ReadableSpan) -> bool:
    attrs = span.attributes or {}
    return "db.system" in attrs or "db.system.name" in attrs


def db_label(table: str) -> Callable[[ReadableSpan], str | None]:
    """Label database spans whose statement touches ``table`` as ``db OP table``.

    Span names carry the database name, which differs per test, and the
    engine's own statements are its business: only the task's own work on
    ``table`` is shown.
    """

    def label(span: ReadableSpan) -> str | None:
        statement = _statement(span)
        if not is_db(span) or statement is None or table not in statement:
            return None
        return f"db {statement.split()[0].upper()} {table}"

    return label


def default_label(span: ReadableSpan) -> str | None:
    """Runs, attempts (key, number, outcome, error) and server requests."""
    attrs = span.attributes or {}
    if span.name.startswith(tracing.ATTEMPT_SPAN_PREFIX):
        key, number = attrs[tracing.STEP_KEY], attrs[tracing.ATTEMPT]
        text = f"{span.name} {key!s}#{number!s} {attrs.get(tracing.OUTCOME)!s}"
        if span.status.status_code is StatusCode.ERROR:
            errors = [e.attributes or {} for e in span.events if e.name == "exception"]
            kinds = ",".join(str(e.get("exception.type")) for e in errors)
            text += f" ERROR {kinds}".rstrip()
        return text
    if span.name.startswith(tracing.RUN_SPAN_PREFIX) or span.kind is SpanKind.SERVER:
        return span.name
    return None


def _sort_key(span: ReadableSpan) -> tuple[int, str, int, int]:
    attrs = span.attributes or {}
    if span.name.startswith(tracing.ATTEMPT_SPAN_PREFIX):
        return (1, str(attrs[tracing.STEP_KEY]), int(str(attrs[tracing.ATTEMPT])), 0)
    return (0, "", 0, span.start_time or 0)


def span_tree(
    spans: Sequence[ReadableSpan],
    *labels: Callable[[ReadableSpan], str | None],
) -> str:
    """The spans as an indented tree of labels, one per line.

    A span no label names is left out; its kept descendants hang under its
    nearest kept ancestor. Siblings come in start order, attempts after the
    rest, by step key and attempt number (concurrent steps start in any
    order).
    """
    chosen = labels or (default_label,)
    by_id = {s.context.span_id: s for s in spans if s.context is not None}
    named: dict[int, str] = {}
    for span_id, span in by_id.items():
        for label in chosen:
            text = label(span)
            if text is not None:
                named[span_id] = text
                break
    children: dict[int | None, list[ReadableSpan]] = {}
    for span_id in named:
        parent = by_id[span_id].parent
        parent_id = parent.span_id if parent is not None else None
        while parent_id is not None and parent_id not in named:
            up = by_id[parent_id].parent if parent_id in by_id else None
            parent_id = up.span_id if up is not None else None
        children.setdefault(parent_id, []).append(by_id[span_id])
    lines: list[str] = []

    def walk(parent_id: int | None, depth: int) -> None:
        for span in sorted(children.get(parent_id, []), key=_sort_key):
            assert span.context is not None
            lines.append("  " * depth + named[span.context.span_id])
            walk(span.context.span_id, depth + 1)

    walk(None, 0)
    return "\n".join(lines)


def trace_ids(spans: Sequence[ReadableSpan]) -> set[str]:
    return {f"{s.context.trace_id:032x}" for s in spans if s.context is not None}


def orphans(spans: Sequence[ReadableSpan]) -> list[str]:
    """Names of spans whose parent is not among ``spans`` (roots excluded)."""
    ids = {s.context.span_id for s in spans if s.context is not None}
    return [
        s.name for s in spans if s.parent is not None and s.parent.span_id not in ids
    ]
