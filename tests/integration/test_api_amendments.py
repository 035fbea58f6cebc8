"""Norm amendments through the API, and retrying one step of an expanded run.

The failing notice step is caused for real: a PostgreSQL trigger refuses the
notice of one node while a row in a control table says so, and the test fixes
the cause by deleting that row.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text

import graphs.propagate_norm_amendment as propagation
from tests.support.api import AUTH, api_client, seed_domain, wait_status
from tests.support.engine import Harness, harness

BLOCKER = [
    "CREATE TABLE blocked_notices (node_id text PRIMARY KEY)",
    """
    CREATE FUNCTION refuse_blocked_notice() RETURNS trigger AS $$
    BEGIN
        IF EXISTS (SELECT 1 FROM blocked_notices WHERE node_id = NEW.node_id) THEN
            RAISE EXCEPTION 'notice of % is blocked', NEW.node_id;
        END IF;
        RETURN NEW;
    END $$ LANGUAGE plpgsql
    """,
    """
    CREATE TRIGGER refuse_blocked_notice BEFORE INSERT ON amendment_notices
    FOR EACH ROW EXECUTE FUNCTION refuse_blocked_notice()
    """,
]


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    graph = propagation.GRAPH
    async with harness({graph.name: graph}, db_url, redis_url, queue_name) as hh:
        await seed_domain(hh.client.sessions)
        async with hh.client.sessions() as s, s.begin():
            for statement in BLOCKER:
                await s.execute(text(statement))
            await s.execute(text("INSERT INTO blocked_notices VALUES ('R1')"))
        yield hh


async def test_api_amendment_retry_of_one_expanded_step(h: Harness) -> None:
    """A notice step of an expanded propagation run that failed is retried through
    the API once its cause is fixed: the run succeeds, the other notice steps keep
    their single attempt and the steps after it run once."""
    await h.start_worker()
    body = {"version": 2, "summary": "scope narrowed"}
    async with api_client(h) as api:
        asked = await api.post("/api/v1/norms/N1/amendments", json=body, headers=AUTH)
        assert asked.status_code == 202, asked.text
        run_id = asked.json()["run"]["id"]
        failed = await wait_status(api, run_id, {"failed", "succeeded"}, timeout_s=60)
        steps = {s["key"]: s for s in failed["steps"]}

        async with h.client.sessions() as s, s.begin():
            await s.execute(text("DELETE FROM blocked_notices"))
        retried = await api.post(
            f"/api/v1/runs/{run_id}/steps/notice:R1/retry", headers=AUTH
        )
        done = await wait_status(api, run_id, {"succeeded", "failed"})
        again = await api.post("/api/v1/norms/N1/amendments", json=body, headers=AUTH)

    assert failed["status"] == "failed"
    assert steps["notice:R1"]["status"] == "failed"
    assert "notice of R1 is blocked" in steps["notice:R1"]["error"]
    assert steps["notice:R1"]["expanded_from"] == "plan"
    assert steps["notice:R2"]["status"] == "upstream_failed"
    assert steps["summarize"]["status"] == "upstream_failed"
    assert retried.status_code == 202
    assert done["status"] == "succeeded"
    assert {s["key"]: s["attempts"] for s in done["steps"]} == {
        "plan": 1,
        "notice:R1": 4,
        "notice:R2": 1,
        "summarize": 1,
    }
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["run"]["id"] == run_id
    async with h.client.sessions() as s:
        notices = await s.execute(
            text("SELECT node_id, depth FROM amendment_notices ORDER BY node_id")
        )
        assert [tuple(r) for r in notices] == [("R1", 1), ("R2", 2)]


async def test_api_amendment_refusals(h: Harness) -> None:
    """Unknown norms are 404 and bad versions or summaries 422, with no run."""
    async with api_client(h) as api:
        unknown = await api.post(
            "/api/v1/norms/N404/amendments",
            json={"version": 2, "summary": "x"},
            headers=AUTH,
        )
        bad = [
            await api.post("/api/v1/norms/N1/amendments", json=b, headers=AUTH)
            for b in (
                {"version": 0, "summary": "x"},
                {"version": 2, "summary": ""},
                {"version": "two", "summary": "x"},
                {"version": 2},
            )
        ]
        runs = (await api.get("/api/v1/runs")).json()["items"]

    assert unknown.status_code == 404
    assert unknown.json()["code"] == "norm_not_found"
    assert [r.status_code for r in bad] == [422, 422, 422, 422]
    assert runs == []
