"""Start a run in one call: checks, run row, steps, edges and its first attempts

A trigger was seven statements in a transaction (the graph's lock, the run
limit, the run row, its steps, its edges, the roots' readiness, the commit),
each a round trip, and the steps were sent row by row as bound parameters.
``rr_start_run`` does the same in one statement: it takes the graph's advisory
lock, answers with the existing run for a schedule slot or dedup key already
used, refuses past ``p_max_active`` runs in progress (NULL: no limit), and
otherwise inserts the run and derives its steps and edges from the definition
it stores. The roots (``p_is_root``, in the order of the definition's steps)
are queued with their first attempt at once: nobody else can see the run yet,
so they need neither locks nor a readiness check.

It returns rows of ``(o_kind, o_run, o_status, o_key)``: one ``existing`` row
(the run and its status), or one ``busy`` row per run in progress (oldest
first), or one ``queued`` row per root followed by a ``created`` row.

Revision ID: 0005
Revises: 0004
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

START_RUN = """
CREATE OR REPLACE FUNCTION rr_start_run(
    p_run uuid, p_graph text, p_hash text, p_definition jsonb, p_is_root boolean[],
    p_trigger text, p_actor text, p_logical_time timestamptz, p_params jsonb,
    p_dedup_key text, p_traceparent text, p_trace_id text, p_max_active integer)
RETURNS TABLE (o_kind text, o_run uuid, o_status text, o_key text)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext(p_graph));
    IF p_dedup_key IS NOT NULL THEN
        RETURN QUERY SELECT 'existing'::text, r.id, r.status::text, NULL::text
            FROM runs r WHERE r.graph_name = p_graph AND r.dedup_key = p_dedup_key
            LIMIT 1;
        IF FOUND THEN
            RETURN;
        END IF;
    ELSIF p_trigger = 'schedule' THEN
        RETURN QUERY SELECT 'existing'::text, r.id, r.status::text, NULL::text
            FROM runs r WHERE r.graph_name = p_graph AND r.trigger = 'schedule'
              AND r.logical_time = p_logical_time
            LIMIT 1;
        IF FOUND THEN
            RETURN;
        END IF;
    END IF;
    IF p_max_active IS NOT NULL AND (
        SELECT count(*) FROM runs r
        WHERE r.graph_name = p_graph AND r.status IN ('pending', 'running')
    ) >= p_max_active THEN
        RETURN QUERY SELECT 'busy'::text, r.id, r.status::text, NULL::text
            FROM runs r
            WHERE r.graph_name = p_graph AND r.status IN ('pending', 'running')
            ORDER BY r.created_at, r.id;
        RETURN;
    END IF;

    INSERT INTO runs (id, graph_name, graph_hash, definition, status, trigger, actor,
                      logical_time, params, dedup_key, traceparent, trace_id)
    VALUES (p_run, p_graph, p_hash, p_definition, 'pending', p_trigger, p_actor,
            p_logical_time, p_params, p_dedup_key, p_traceparent, p_trace_id);
    RETURN QUERY
    WITH steps AS (
        INSERT INTO step_runs (run_id, step_key, task, status, params, attempt,
                               budget_start, max_attempts, timeout_s, retry_policy,
                               queued_at)
        SELECT p_run, s.step->>'key', s.step->>'task',
               CASE WHEN p_is_root[s.i] THEN 'queued' ELSE 'pending' END,
               s.step->'params', CASE WHEN p_is_root[s.i] THEN 1 ELSE 0 END, 1,
               (s.step->'retry'->>'max_attempts')::integer,
               (s.step->>'timeout_s')::double precision, s.step->'retry',
               CASE WHEN p_is_root[s.i] THEN clock_timestamp() END
        FROM jsonb_array_elements(p_definition->'steps') WITH ORDINALITY
             AS s(step, i)
        RETURNING step_key::text AS key, status
    ), attempts_in AS (
        INSERT INTO attempts (run_id, step_key, attempt, status, job_id, deliveries,
                              queued_at)
        SELECT p_run, steps.key, 1, 'queued', 'rr:' || p_run || ':1:' || steps.key,
               0, clock_timestamp()
        FROM steps WHERE steps.status = 'queued'
    )
    SELECT 'queued'::text, p_run, 'queued'::text, steps.key
    FROM steps WHERE steps.status = 'queued';
    INSERT INTO step_edges (run_id, upstream, downstream)
    SELECT p_run, e->>0, e->>1 FROM jsonb_array_elements(p_definition->'edges') e;
    RETURN QUERY SELECT 'created'::text, p_run, 'pending'::text, NULL::text;
END
$$;
"""


def upgrade() -> None:
    op.execute(START_RUN)


def downgrade() -> None:
    op.execute(
        "DROP FUNCTION IF EXISTS rr_start_run(uuid, text, text, jsonb, boolean[],"
        " text, text, timestamptz, jsonb, text, text, text, integer)"
    )
