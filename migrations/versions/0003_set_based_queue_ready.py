"""Queue many ready steps in one statement

``rr_queue_ready`` looped over its candidates, about a millisecond each, so a
root with 10,000 successors held its transaction for seconds. With more than 16
candidates it now locks them in one statement (key order, as before) and queues
them in another; short lists keep the per-key loop, whose primary-key lookups
stay cheap on a run of any size.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QUEUE_READY = """
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
        WITH q AS (
            UPDATE step_runs s
            SET status = 'queued', attempt = s.attempt + 1,
                queued_at = clock_timestamp(), started_at = NULL, finished_at = NULL
            WHERE s.run_id = p_run AND s.step_key = ANY(p_keys)
              AND s.status = 'pending'
              AND NOT EXISTS (
                  SELECT 1 FROM step_edges e
                  JOIN step_runs p ON p.run_id = e.run_id AND p.step_key = e.upstream
                  WHERE e.run_id = p_run AND e.downstream = s.step_key
                    AND p.status <> 'succeeded')
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
    op.execute(QUEUE_READY)


def downgrade() -> None:
    from importlib import import_module

    previous = import_module("migrations.versions.0002_queue_ready_function")
    op.execute(previous.QUEUE_READY)
