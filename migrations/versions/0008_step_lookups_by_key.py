"""Indexes that leave a step's lookups only one plan: by its key

A worker keeps its statements' plans for the life of its connections, and a
plan made while the tables were nearly empty, or with statistics gathered
before the current run existed, takes "the rows of run X" for one row. Where an
index other than the key's could answer a step's lookup through ``run_id``
alone, the planner then chose it, and each step read the whole run: in a
10,000-step fan-out the claim read every queued step of its run through
``ix_step_runs_active`` and every edge through the edges' primary key, 0.78 ms
a claim against 0.16 ms in a run of 1,000.

- ``ix_step_runs_active`` (pending, queued and running steps by run) becomes
  ``ix_step_runs_waiting``, of pending and queued steps only. The questions it
  serves ("does this run still have steps to start?", "which steps of this run
  are queued?") are about those; the claim, the lock and the completion ask
  about a step that is queued or running, which this index no longer covers,
  so the primary key is their only index.
- ``step_edges`` has no index led by ``run_id`` any more: its primary key is
  ``(upstream, run_id, downstream)`` and its other index ``(downstream, run_id,
  upstream)``, so an edge is found from either end by equality on two leading
  columns, never by scanning a run. A run's edges are read through its steps
  (``orchestrator.expansion``, the API), one lookup per step.

Both are rebuilt in the migration's transaction, which holds the tables' locks
meanwhile (seconds per million edges).

Revision ID: 0008
Revises: 0007
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index(
        "ix_step_runs_waiting",
        "step_runs",
        ["run_id", "status"],
        postgresql_where=sa.text("status IN ('pending', 'queued')"),
    )
    op.drop_index("ix_step_runs_active", table_name="step_runs")
    op.drop_constraint("pk_step_edges", "step_edges", type_="primary")
    op.create_primary_key(
        "pk_step_edges", "step_edges", ["upstream", "run_id", "downstream"]
    )
    op.drop_index("ix_step_edges_downstream", table_name="step_edges")
    op.create_index(
        "ix_step_edges_downstream",
        "step_edges",
        ["downstream", "run_id", "upstream"],
    )


def downgrade() -> None:
    op.drop_index("ix_step_edges_downstream", table_name="step_edges")
    op.create_index("ix_step_edges_downstream", "step_edges", ["downstream", "run_id"])
    op.drop_constraint("pk_step_edges", "step_edges", type_="primary")
    op.create_primary_key(
        "pk_step_edges", "step_edges", ["run_id", "upstream", "downstream"]
    )
    op.create_index(
        "ix_step_runs_active",
        "step_runs",
        ["run_id", "status"],
        postgresql_where=sa.text("status IN ('pending', 'queued', 'running')"),
    )
    op.drop_index("ix_step_runs_waiting", table_name="step_runs")
