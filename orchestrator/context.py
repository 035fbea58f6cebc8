"""What a task receives: identity, inputs, parameters and its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession


@dataclass
class StepContext:
    """The context of one attempt of one step.

    Attributes:
        session: the attempt's transaction. Domain writes made through it commit
            together with the step's output and its success, or not at all. The
            engine commits it: a task's own ``commit()`` or ``rollback()`` sends
            nothing (raise to undo), and ``begin_nested()`` is a savepoint.
        inputs: outputs of the direct predecessors, by step key.
        params: the run's parameters overlaid with the step's own.
        resources: process-wide objects the worker set up (providers, settings).
    """

    run_id: uuid.UUID
    graph_name: str
    step_key: str
    attempt: int
    logical_time: datetime
    trigger: str
    actor: str
    params: Mapping[str, Any]
    inputs: Mapping[str, Any]
    session: AsyncSession
    resources: Mapping[str, Any] = field(default_factory=dict)
