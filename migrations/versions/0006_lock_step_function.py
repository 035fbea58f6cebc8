"""Lock an attempt's step through a function; leaner completion

The attempt's transaction begins with one simple query, ``BEGIN`` and the lock
of its step row, which PostgreSQL parsed and planned anew every time (a join of
the step and its run). ``rr_lock_step`` holds that query, so its plan is made
once per connection; the simple query that calls it is trivial to parse. It
returns one row when the row was locked, none when another transaction holds
it or the attempt may no longer run.

``rr_complete_step`` keeps its rules and its result, in fewer statements: the
attempt and its step are marked ``succeeded`` in one statement, and readiness
is asked for only when the step has successors.

Revision ID: 0006
Revises: 0005
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LOCK_STEP = """
CREATE OR REPLACE FUNCTION rr_lock_step(p_run uuid, p_key text, p_attempt integer)
RETURNS SETOF integer
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    RETURN QUERY
        SELECT 1 FROM step_runs s
        WHERE s.run_id = p_run AND s.step_key = p_key AND s.attempt = p_attempt
          AND s.status = 'running'
          AND EXISTS (SELECT 1 FROM runs r WHERE r.id = p_run AND r.status = 'running')
        FOR UPDATE OF s SKIP LOCKED;
END
$$;
"""

COMPLETE_STEP = """
CREATE OR REPLACE FUNCTION rr_complete_step(
    p_run uuid, p_key text, p_attempt integer, p_output jsonb)
RETURNS TABLE (o_key text, o_attempt integer, o_run_status text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_next text[];
    v_queued boolean := false;
    v_status text;
BEGIN
    WITH a AS (
        UPDATE attempts a SET status = 'succeeded', finished_at = clock_timestamp()
        WHERE a.run_id = p_run AND a.step_key = p_key AND a.attempt = p_attempt
          AND a.status = 'running'
        RETURNING 1
    )
    UPDATE step_runs s SET status = 'succeeded', output = p_output, error = NULL,
           finished_at = clock_timestamp()
    WHERE s.run_id = p_run AND s.step_key = p_key AND s.attempt = p_attempt
      AND s.status = 'running'
      AND EXISTS (SELECT 1 FROM a)
      AND EXISTS (SELECT 1 FROM runs r WHERE r.id = p_run AND r.status = 'running');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    SELECT array_agg(e.downstream::text ORDER BY e.downstream) INTO v_next
    FROM step_edges e WHERE e.run_id = p_run AND e.upstream = p_key;
    IF v_next IS NOT NULL THEN
        RETURN QUERY
            SELECT q.step_key, q.attempt, NULL::text FROM rr_queue_ready(p_run, v_next) q;
        v_queued := FOUND;
    END IF;
    IF NOT v_queued AND NOT EXISTS (
        SELECT 1 FROM step_runs s
        WHERE s.run_id = p_run AND s.status IN ('pending', 'queued')
    ) THEN
        -- Only running steps may remain, and some may be finishing now: take
        -- the run lock and count again, so the last to commit sees the rest.
        PERFORM 1 FROM runs r WHERE r.id = p_run FOR UPDATE;
        UPDATE runs r SET status = CASE
                WHEN EXISTS (SELECT 1 FROM step_runs s WHERE s.run_id = p_run
                             AND s.status IN ('failed', 'upstream_failed'))
                    THEN 'failed'
                WHEN EXISTS (SELECT 1 FROM step_runs s WHERE s.run_id = p_run
                             AND s.status = 'cancelled') THEN 'cancelled'
                ELSE 'succeeded' END,
            finished_at = clock_timestamp()
        WHERE r.id = p_run AND r.status IN ('pending', 'running')
          AND NOT EXISTS (SELECT 1 FROM step_runs s WHERE s.run_id = p_run
                          AND s.status IN ('pending', 'queued', 'running'))
        RETURNING r.status INTO v_status;
    END IF;
    o_key := NULL;
    o_attempt := NULL;
    o_run_status := v_status;
    RETURN NEXT;
END
$$;
"""


def upgrade() -> None:
    op.execute(LOCK_STEP)
    op.execute(COMPLETE_STEP)


def downgrade() -> None:
    from importlib import import_module

    previous = import_module("migrations.versions.0004_complete_step_function")
    op.execute(previous.COMPLETE_STEP)
    op.execute("DROP FUNCTION IF EXISTS rr_lock_step(uuid, text, integer)")
