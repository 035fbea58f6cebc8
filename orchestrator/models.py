"""The orchestrator's tables: runs, step runs, edges, attempts, expansions.

The run state lives here, in PostgreSQL; Redis only carries ids. Every step of a run,
static or added by an expansion, has a row in ``step_runs`` and its dependencies
rows in ``step_edges``, so readiness is one query whatever the graph's origin.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    MetaData,
    PrimaryKeyConstraint,
    String,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_N_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class OrchestratorBase(DeclarativeBase):
    """Declarative base of the engine's own tables."""

    metadata = MetaData(naming_convention=NAMING)


Timestamp = DateTime(timezone=True)


class RunRow(OrchestratorBase):
    """One execution of a graph."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    graph_name: Mapped[str] = mapped_column(String(200))
    graph_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    status: Mapped[str] = mapped_column(String(20))
    trigger: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(200))
    logical_time: Mapped[datetime] = mapped_column(Timestamp)
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    dedup_key: Mapped[str | None] = mapped_column(String(300))
    trace_id: Mapped[str | None] = mapped_column(String(32))
    traceparent: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        # One run per schedule slot, however many workers tick the schedule.
        Index(
            "uq_runs_schedule_slot",
            "graph_name",
            "logical_time",
            unique=True,
            postgresql_where=text("trigger = 'schedule'"),
        ),
        Index(
            "uq_runs_dedup_key",
            "graph_name",
            "dedup_key",
            unique=True,
            postgresql_where=text("dedup_key IS NOT NULL"),
        ),
        Index("ix_runs_graph_created", "graph_name", "created_at", "id"),
        Index("ix_runs_created", "created_at", "id"),
        Index(
            "ix_runs_in_progress",
            "graph_name",
            postgresql_where=text("status IN ('pending', 'running')"),
        ),
    )


class StepRunRow(OrchestratorBase):
    """The state of one step in one run."""

    __tablename__ = "step_runs"

    run_id: Mapped[uuid.UUID] = mapped_column(
        UUID, ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True
    )
    step_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    task: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    budget_start: Mapped[int] = mapped_column(Integer, default=1)
    max_attempts: Mapped[int] = mapped_column(Integer)
    timeout_s: Mapped[float] = mapped_column()
    retry_policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
    expanded_from: Mapped[str | None] = mapped_column(String(300))
    output: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    not_before: Mapped[datetime | None] = mapped_column(Timestamp)
    queued_at: Mapped[datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)

    __table_args__ = (
        # Steps still to start; not those running, so that a lookup of a
        # running step has only the primary key to use (migration 0008).
        Index(
            "ix_step_runs_waiting",
            "run_id",
            "status",
            postgresql_where=text("status IN ('pending', 'queued')"),
        ),
    )


class StepEdgeRow(OrchestratorBase):
    """``upstream`` must succeed before ``downstream`` may run."""

    __tablename__ = "step_edges"

    run_id: Mapped[uuid.UUID] = mapped_column(UUID)
    upstream: Mapped[str] = mapped_column(String(300))
    downstream: Mapped[str] = mapped_column(String(300))

    # No index is led by run_id: an edge is found from either end by two
    # leading columns, never by scanning its run (migration 0008).
    __table_args__ = (
        PrimaryKeyConstraint("upstream", "run_id", "downstream"),
        ForeignKeyConstraint(
            ["run_id", "upstream"],
            ["step_runs.run_id", "step_runs.step_key"],
            ondelete="CASCADE",
        ),
        ForeignKeyConstraint(
            ["run_id", "downstream"],
            ["step_runs.run_id", "step_runs.step_key"],
            ondelete="CASCADE",
        ),
        Index("ix_step_edges_downstream", "downstream", "run_id", "upstream"),
    )


class AttemptRow(OrchestratorBase):
    """One try of a step run; ``attempt`` is numbered by the orchestrator."""

    __tablename__ = "attempts"

    run_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    step_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    attempt: Mapped[int] = mapped_column(Integer, primary_key=True)
    status: Mapped[str] = mapped_column(String(20))
    job_id: Mapped[str] = mapped_column(String(400))
    worker_id: Mapped[str | None] = mapped_column(String(200))
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    queued_at: Mapped[datetime | None] = mapped_column(Timestamp)
    started_at: Mapped[datetime | None] = mapped_column(Timestamp)
    heartbeat_at: Mapped[datetime | None] = mapped_column(Timestamp)
    finished_at: Mapped[datetime | None] = mapped_column(Timestamp)
    error_type: Mapped[str | None] = mapped_column(String(300))
    error_message: Mapped[str | None] = mapped_column(Text)
    traceback: Mapped[str | None] = mapped_column(Text)

    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "step_key"],
            ["step_runs.run_id", "step_runs.step_key"],
            ondelete="CASCADE",
        ),
        Index(
            "ix_attempts_running",
            "started_at",
            postgresql_where=text("status = 'running'"),
        ),
    )


class ExpansionRow(OrchestratorBase):
    """The steps and edges one step added to its run."""

    __tablename__ = "expansions"

    run_id: Mapped[uuid.UUID] = mapped_column(UUID, primary_key=True)
    step_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    steps: Mapped[list[Any]] = mapped_column(JSONB)
    edges: Mapped[list[Any]] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())

    __table_args__ = (
        ForeignKeyConstraint(
            ["run_id", "step_key"],
            ["step_runs.run_id", "step_runs.step_key"],
            ondelete="CASCADE",
        ),
    )


class ScheduleRow(OrchestratorBase):
    """Persistent state of one graph's schedule: pause flag and ticks seen."""

    __tablename__ = "schedules"

    graph_name: Mapped[str] = mapped_column(String(200), primary_key=True)
    paused: Mapped[bool] = mapped_column(Boolean, default=False)
    first_tick_at: Mapped[datetime | None] = mapped_column(Timestamp)
    last_slot_at: Mapped[datetime | None] = mapped_column(Timestamp)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime | None] = mapped_column(Timestamp)


class WorkerRow(OrchestratorBase):
    """A live (or recently live) worker process and its heartbeat."""

    __tablename__ = "workers"

    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    hostname: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(Timestamp)
    heartbeat_at: Mapped[datetime] = mapped_column(Timestamp)


class ActionRow(OrchestratorBase):
    """Who asked for which change, and when (the audit trail)."""

    __tablename__ = "actions"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    subject: Mapped[str] = mapped_column(String(400))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    at: Mapped[datetime] = mapped_column(Timestamp, server_default=func.now())
