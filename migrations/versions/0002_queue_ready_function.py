"""Readiness as a server-side function, and indexes whose plans hold for big runs

The planner has no statistics for a run that was just created, so a query that
names a run's steps by ``run_id`` plus a list of keys may scan every step of the
run; over a fan-out of 10,000 steps that makes each completion O(n). The function
below touches each candidate by its full primary key, which the planner always
serves from the unique index. The edges' second index leads with ``downstream``
so that "successors of X" can only use the primary key, and the active-steps
index leads with ``run_id`` so "is anything left in this run" is one probe.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Each candidate is locked first, in its own statement, so the readiness check
# that follows (a new snapshot under READ COMMITTED) sees every predecessor that
# committed while this transaction waited for the lock.
QUEUE_READY = """
CREATE OR REPLACE FUNCTION rr_queue_ready(p_run uuid, p_keys text[])
RETURNS TABLE (step_key text, attempt integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k text;
    n integer;
BEGIN
    FOREACH k IN ARRAY p_keys LOOP
        PERFORM 1 FROM step_runs s
        WHERE s.run_id = p_run AND s.step_key = k AND s.status = 'pending'
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        UPDATE step_runs s
        SET status = 'queued', attempt = s.attempt + 1,
            queued_at = clock_timestamp(), started_at = NULL, finished_at = NULL
        WHERE s.run_id = p_run AND s.step_key = k AND s.status = 'pending'
          AND NOT EXISTS (
              SELECT 1 FROM step_edges e
              JOIN step_runs p ON p.run_id = e.run_id AND p.step_key = e.upstream
              WHERE e.run_id = p_run AND e.downstream = k
                AND p.status <> 'succeeded')
        RETURNING s.attempt INTO n;
        CONTINUE WHEN NOT FOUND;
        INSERT INTO attempts (run_id, step_key, attempt, status, job_id, deliveries,
                              queued_at)
        VALUES (p_run, k, n, 'queued', 'rr:' || p_run || ':' || n || ':' || k, 0,
                clock_timestamp());
        step_key := k;
        attempt := n;
        RETURN NEXT;
    END LOOP;
END
$$;
"""


def upgrade() -> None:
    op.drop_index("ix_step_edges_downstream", table_name="step_edges")
    op.create_index("ix_step_edges_downstream", "step_edges", ["downstream", "run_id"])
    op.drop_index("ix_step_runs_active", table_name="step_runs")
    op.create_index(
        "ix_step_runs_active",
        "step_runs",
        ["run_id", "status"],
        postgresql_where=sa.text("status IN ('pending', 'queued', 'running')"),
    )
    op.execute(QUEUE_READY)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS rr_queue_ready(uuid, text[])")
    op.drop_index("ix_step_runs_active", table_name="step_runs")
    op.create_index(
        "ix_step_runs_active",
        "step_runs",
        ["status"],
        postgresql_where=sa.text("status IN ('pending', 'queued', 'running')"),
    )
    op.drop_index("ix_step_edges_downstream", table_name="step_edges")
    op.create_index("ix_step_edges_downstream", "step_edges", ["run_id", "downstream"])
