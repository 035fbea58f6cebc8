"""Record a step's success, queue its successors and finish its run in one call

An attempt's success was four statements (attempt and step rows, successors,
then whether the run is over), each a round trip made while the step's row
lock is held. ``rr_complete_step`` does the same work in one call, with the same
rules: nothing is changed unless the attempt is still its step's current one,
running, in a running run; successors are queued by ``rr_queue_ready``; the run
is finished only when nothing of it is pending, queued or running, after its
row lock is taken.

It returns no row when the attempt may not succeed (the caller rolls back),
else one row per queued successor (``o_key``, ``o_attempt``) and a last row
whose ``o_key`` is NULL and whose ``o_run_status`` is the run's final status,
or NULL while the run goes on.

Revision ID: 0004
Revises: 0003
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COMPLETE_STEP = """
CREATE OR REPLACE FUNCTION rr_complete_step(
    p_run uuid, p_key text, p_attempt integer, p_output jsonb)
RETURNS TABLE (o_key text, o_attempt integer, o_run_status text)
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    v_status text;
BEGIN
    UPDATE attempts a SET status = 'succeeded', finished_at = clock_timestamp()
    WHERE a.run_id = p_run AND a.step_key = p_key AND a.attempt = p_attempt
      AND a.status = 'running';
    IF NOT FOUND THEN
        RETURN;
    END IF;
    UPDATE step_runs s SET status = 'succeeded', output = p_output, error = NULL,
           finished_at = clock_timestamp()
    WHERE s.run_id = p_run AND s.step_key = p_key AND s.attempt = p_attempt
      AND s.status = 'running'
      AND EXISTS (SELECT 1 FROM runs r WHERE r.id = p_run AND r.status = 'running');
    IF NOT FOUND THEN
        RETURN;
    END IF;
    RETURN QUERY
        SELECT q.step_key, q.attempt, NULL::text
        FROM rr_queue_ready(p_run, ARRAY(
            SELECT e.downstream::text FROM step_edges e
            WHERE e.run_id = p_run AND e.upstream = p_key
            ORDER BY e.downstream)) q;
    IF NOT FOUND AND NOT EXISTS (
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
    op.execute(COMPLETE_STEP)


def downgrade() -> None:
    op.execute("DROP FUNCTION IF EXISTS rr_complete_step(uuid, text, integer, jsonb)")
