"""Run, step run and attempt states, and which of them are terminal.

Run: ``pending → running → succeeded | failed | cancelled``.
Step run: ``pending → queued → running → succeeded | failed | cancelled``, plus
``upstream_failed`` for a step that can no longer run because a predecessor failed.
Attempt: ``queued → running → succeeded | failed | lost | cancelled``; ``lost``
means its worker died or stopped heart-beating and the sweep gave up on it.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


RUN_TERMINAL = frozenset({RunStatus.SUCCEEDED, RunStatus.FAILED, RunStatus.CANCELLED})
RUN_IN_PROGRESS = frozenset({RunStatus.PENDING, RunStatus.RUNNING})


class StepRunStatus(StrEnum):
    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    UPSTREAM_FAILED = "upstream_failed"


STEP_TERMINAL = frozenset(
    {
        StepRunStatus.SUCCEEDED,
        StepRunStatus.FAILED,
        StepRunStatus.CANCELLED,
        StepRunStatus.UPSTREAM_FAILED,
    }
)
STEP_ACTIVE = frozenset(
    {StepRunStatus.PENDING, StepRunStatus.QUEUED, StepRunStatus.RUNNING}
)


class AttemptStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    LOST = "lost"
    CANCELLED = "cancelled"


class Trigger(StrEnum):
    SCHEDULE = "schedule"
    API = "api"
    CLI = "cli"
    EVENT = "event"
