"""Request bodies and responses of the status API (what its OpenAPI schema shows).

Request bodies refuse unknown fields, so a misspelt field is a 422 naming it
rather than a value silently ignored.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue

from api.fields import Instant, Name, Note, Params, Summary, Version

RunStatusName = Literal["pending", "running", "succeeded", "failed", "cancelled"]
StepStatusName = Literal[
    "pending",
    "queued",
    "running",
    "succeeded",
    "failed",
    "cancelled",
    "upstream_failed",
]
AlertStatusName = Literal["open", "acknowledged", "resolved"]
SeverityName = Literal["info", "warning", "critical"]
ProposalStatusName = Literal["pending", "approved", "dismissed"]


class Body(BaseModel):
    """A request body: unknown fields are refused."""

    model_config = ConfigDict(extra="forbid")


class ActorBody(Body):
    """Who asks, when no ``X-Actor`` header names them."""

    actor: Name | None = Field(default=None, description="Who asks for the change.")


class TriggerBody(ActorBody):
    """A manual run: its logical time (default now) and parameters."""

    logical_time: Instant | None = Field(
        default=None, description="ISO 8601 with a zone; default: now."
    )
    params: Params | None = Field(
        default=None, description="Run parameters; the graph lists the names."
    )


class BackfillBody(ActorBody):
    """A range of past schedule slots, both ends included."""

    start: Instant = Field(alias="from", examples=["2025-01-01T00:00:00Z"])
    end: Instant = Field(alias="to", examples=["2025-01-03T00:00:00Z"])


class NoteBody(ActorBody):
    """An optional note kept with the change."""

    note: Note | None = None


class ReviewerBody(Body):
    """A reviewer's decision: their name and an optional note."""

    reviewer: Name = Field(description="The reviewer's name.")
    note: Note | None = None
    actor: Name | None = Field(
        default=None, description="Who asks, if not the reviewer."
    )


class ReviewBody(ReviewerBody):
    """A rule review; ``at`` defaults to now."""

    at: Instant | None = Field(default=None, description="When it was reviewed.")


class AmendmentBody(ActorBody):
    """An amendment of a norm, identified by (norm, version)."""

    version: Version = Field(description="The norm's new version.")
    summary: Summary = Field(description="What changed.")


class ErrorItem(BaseModel):
    """One reason a request was refused."""

    loc: list[str | int]
    msg: str
    type: str


class RunRef(BaseModel):
    """Enough of a run to find it."""

    id: uuid.UUID
    graph: str
    status: RunStatusName
    logical_time: datetime
    created_at: datetime
    url: str


class ErrorBody(BaseModel):
    """Every refusal: a sentence naming what is wrong, and a stable code."""

    detail: str
    code: str
    errors: list[ErrorItem] | None = None
    running: list[RunRef] | None = Field(
        default=None, description="The runs in progress, when that is the reason."
    )


class RunSummary(BaseModel):
    """A run as listings show it."""

    id: uuid.UUID
    graph: str
    status: RunStatusName
    trigger: str
    actor: str
    logical_time: datetime
    trace_id: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    params: dict[str, Any]
    step_counts: dict[str, int] = Field(description="Steps by status.")
    url: str
    picture_url: str


class StepState(BaseModel):
    """One step of a run."""

    key: str
    task: str
    status: StepStatusName
    attempts: int = Field(description="Attempts started so far.")
    error: str | None = Field(description="The last error's message, if failed.")
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    expanded_from: str | None = Field(description="The step that added this one.")
    output: JsonValue = None
    url: str


class RunDetail(RunSummary):
    """A run with its steps, edges and definition hash."""

    graph_hash: str
    steps: list[StepState]
    edges: list[tuple[str, str]]
    page_url: str


class AttemptState(BaseModel):
    """One attempt of a step, with its error and traceback."""

    attempt: int
    status: str
    worker_id: str | None
    deliveries: int
    queued_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    duration_s: float | None
    error_type: str | None
    error_message: str | None
    traceback: str | None


class StepDetail(BaseModel):
    """One step of a run with every attempt."""

    run_id: uuid.UUID
    step: StepState
    attempts: list[AttemptState]


class RetryPolicyModel(BaseModel):
    max_attempts: int
    backoff_s: float
    max_backoff_s: float
    jitter: float
    retry_on: list[str]
    give_up_on: list[str]


class StepDefinition(BaseModel):
    key: str
    task: str
    retry: RetryPolicyModel
    timeout_s: float
    params: dict[str, Any]


class ScheduleState(BaseModel):
    """A graph's schedule: cron expression, zone, paused, next slot."""

    schedule: str | None
    timezone: str | None
    paused: bool
    next_slot: datetime | None
    last_slot: datetime | None


class GraphSummary(ScheduleState):
    name: str
    description: str
    step_count: int
    max_active_runs: int
    url: str


class GraphDetail(GraphSummary):
    """A graph's definition with its schedule."""

    definition_hash: str
    params: dict[str, Any] = Field(description="Accepted run parameters, defaults.")
    future_logical_time: bool
    steps: list[StepDefinition] = Field(description="In topological order.")
    edges: list[tuple[str, str]]


class BackfillResult(BaseModel):
    graph: str
    slots: int
    created: int
    runs: list[RunRef]


class Alert(BaseModel):
    id: int
    kind: str
    severity: SeverityName
    status: AlertStatusName
    rule_id: str | None
    locale: str | None
    subject: str
    details: dict[str, Any]
    first_seen_at: datetime
    last_seen_at: datetime
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    resolved_by: str | None
    resolved_at: datetime | None


class Proposal(BaseModel):
    id: str
    status: ProposalStatusName
    title: str
    text: str
    rationale: str
    correction_ids: list[str]
    figures: dict[str, Any]
    logical_time: datetime
    created_at: datetime
    reviewed_by: str | None
    reviewed_at: datetime | None
    review_note: str | None
    rule_id: str | None = Field(description="The rule approving it created.")


class Review(BaseModel):
    rule_id: str
    reviewer: str
    reviewed_at: datetime
    next_due_at: datetime = Field(description="When the next review falls due.")
    note: str | None


class AmendmentResult(BaseModel):
    norm_id: str
    version: int
    created: bool = Field(description="False when this amendment was asked before.")
    run: RunSummary


class Health(BaseModel):
    status: Literal["ok"]


class Check(BaseModel):
    ok: bool
    detail: str


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    checks: dict[str, Check]
