"""Readiness checked by key, whatever the planner estimates

A run that was just created has no planner statistics, so PostgreSQL takes
"the rows of run X" for one row. The set-based branch of ``rr_queue_ready``
(migration 0003) then joined a candidate's edges and their upstream steps by
run alone: for each of N candidates it read every edge of the run, and for each
edge every step of the run. A fan-out of 1,000 steps took 290 s to queue on a
fresh database. Here every lookup is by a full key, in a form the planner
cannot reorder: a candidate's edges by ``(downstream, run_id)`` and each
edge's upstream step by its primary key, in a scalar subquery. The per-key loop
for short lists gets the same check. Locking order, and the rule that the
readiness check runs after the locks (a new snapshot), are unchanged.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Whether step k of run p_run has a predecessor that has not succeeded: the
# predecessors' rows are read one by one by primary key (a scalar subquery the
# planner runs per edge), so no estimate can turn it into a scan of the run.
BLOCKED = """
    EXISTS (
        SELECT 1 FROM step_edges e
        WHERE e.downstream = {key} AND e.run_id = p_run
          AND (SELECT p.status FROM step_runs p
               WHERE p.run_id = p_run AND p.step_key = e.upstream) <> 'succeeded')
"""

QUEUE_READY = (
    """
CREATE OR REPLACE FUNCTION rr_queue_ready(p_run uuid, p_keys text[])
RETURNS TABLE (step_key text, attempt integer)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    k text;
    n integer;
BEGIN
    IF cardinality(p_keys) > 16 THEN
        PERFORM 1 FROM step_runs s
        WHERE s.run_id = p_run AND s.step_key = ANY(p_keys) AND s.status = 'pending'
        ORDER BY s.step_key
        FOR UPDATE;
        RETURN QUERY
        WITH ready AS (
            SELECT c.key FROM unnest(p_keys) AS c(key)
            WHERE NOT """
    + BLOCKED.format(key="c.key")
    + """
        ), q AS (
            UPDATE step_runs s
            SET status = 'queued', attempt = s.attempt + 1,
                queued_at = clock_timestamp(), started_at = NULL, finished_at = NULL
            FROM ready
            WHERE s.run_id = p_run AND s.step_key = ready.key
              AND s.status = 'pending'
            RETURNING s.step_key::text AS key, s.attempt AS n
        ), ins AS (
            INSERT INTO attempts (run_id, step_key, attempt, status, job_id,
                                  deliveries, queued_at)
            SELECT p_run, q.key, q.n, 'queued',
                   'rr:' || p_run || ':' || q.n || ':' || q.key, 0, clock_timestamp()
            FROM q
        )
        SELECT q.key, q.n FROM q;
        RETURN;
    END IF;
    FOREACH k IN ARRAY p_keys LOOP
        PERFORM 1 FROM step_runs s
        WHERE s.run_id = p_run AND s.step_key = k AND s.status = 'pending'
        FOR UPDATE;
        CONTINUE WHEN NOT FOUND;
        UPDATE step_runs s
        SET status = 'queued', attempt = s.attempt + 1,
            queued_at = clock_timestamp(), started_at = NULL, finished_at = NULL
        WHERE s.run_id = p_run AND s.step_key = k AND s.status = 'pending'
          AND NOT """
    + BLOCKED.format(key="k")
    + """
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
)


def upgrade() -> None:
    op.execute(QUEUE_READY)


def downgrade() -> None:
    from importlib import import_module

    previous = import_module("migrations.versions.0003_set_based_queue_ready")
    op.execute(previous.QUEUE_READY)
