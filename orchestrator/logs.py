"""Log records that carry the identity of the attempt that wrote them.

A contextvar holds the current run, graph, step, attempt and trace; the
:class:`IdentityFilter` copies them onto every record, so call sites never repeat
them. Install the filter on handlers (``install_identity_filter``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Iterator
from typing import Any

_IDENTITY: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "orchestrator_identity", default=None
)
FIELDS = ("run_id", "graph_name", "step_key", "attempt", "trace_id")


@contextlib.contextmanager
def identity(**fields: Any) -> Iterator[None]:
    """Stamp every record logged inside the block with ``fields``."""
    token = _IDENTITY.set({**(_IDENTITY.get() or {}), **fields})
    try:
        yield
    finally:
        _IDENTITY.reset(token)


class IdentityFilter(logging.Filter):
    """Adds ``run_id``, ``graph_name``, ``step_key``, ``attempt``, ``trace_id``."""

    def filter(self, record: logging.LogRecord) -> bool:
        current = _IDENTITY.get() or {}
        for name in FIELDS:
            if not hasattr(record, name):
                setattr(record, name, current.get(name))
        if not hasattr(record, "event"):
            record.event = None
        return True


def install_identity_filter(handler: logging.Handler) -> None:
    """Attach the identity filter to ``handler`` once."""
    if not any(isinstance(f, IdentityFilter) for f in handler.filters):
        handler.addFilter(IdentityFilter())
