"""The status API's run endpoints against real PostgreSQL, Redis and a worker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import Graph, RetryPolicy, Step, task
from tests.support.api import AUTH, api_client, wait_status
from tests.support.engine import Harness, harness, wait_for

FAST = RetryPolicy(max_attempts=2, backoff=timedelta(milliseconds=20), jitter=0)
FIXED: set[str] = set()
RELEASE: dict[str, asyncio.Event] = {}


async def _effect(ctx: StepContext) -> None:
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )


@task("api_test_write")
async def write(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    return {"step": ctx.step_key}


@task("api_test_broken_until_fixed")
async def broken(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    if str(ctx.run_id) not in FIXED:
        msg = "the input file is missing"
        raise FileNotFoundError(msg)
    return {"fixed": True}


@task("api_test_wait")
async def wait(ctx: StepContext) -> dict[str, object]:
    await RELEASE.setdefault(str(ctx.run_id), asyncio.Event()).wait()
    return {}


def _graphs() -> dict[str, Graph]:
    branches = Graph(
        "api_branches",
        [
            Step("start", write, retry=FAST),
            Step("bad", broken, retry=FAST),
            Step("after_bad", write, retry=FAST),
            Step("good", write, retry=FAST),
            Step("join", write, retry=FAST),
        ],
        [
            ("start", "bad"),
            ("bad", "after_bad"),
            ("start", "good"),
            ("after_bad", "join"),
            ("good", "join"),
        ],
        params_schema={"size": 1},
    )
    slow = Graph(
        "api_slow", [Step("hold", wait), Step("after", write)], [("hold", "after")]
    )
    return {g.name: g for g in (branches, slow)}


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness(_graphs(), db_url, redis_url, queue_name) as hh:
        async with hh.client.sessions() as s, s.begin():
            await s.execute(
                text("CREATE TABLE effects (run_id uuid, step_key text, attempt int)")
            )
        yield hh
    for event in RELEASE.values():
        event.set()


async def _effects(h: Harness, run_id: str) -> dict[str, int]:
    async with h.client.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT step_key, count(*) FROM effects WHERE run_id = :r"
                " GROUP BY step_key"
            ),
            {"r": run_id},
        )
        return {key: int(n) for key, n in rows}


async def test_api_retry_of_failed_step_reuses_upstream_outputs(h: Harness) -> None:
    """A failed step retried through the API reruns it and its descendants only."""
    await h.start_worker()
    async with api_client(h) as api:
        started = await api.post("/api/v1/graphs/api_branches/runs", headers=AUTH)
        assert started.status_code == 202, started.text
        run_id = started.json()["id"]
        assert started.headers["location"] == f"/api/v1/runs/{run_id}"

        failed = await wait_status(api, run_id, {"failed", "succeeded"})
        assert failed["status"] == "failed"
        steps = {s["key"]: s for s in failed["steps"]}
        assert steps["bad"]["status"] == "failed"
        assert steps["bad"]["error"] == "the input file is missing"
        assert steps["after_bad"]["status"] == "upstream_failed"
        assert steps["good"]["status"] == "succeeded"
        assert failed["picture_url"] == f"/api/v1/runs/{run_id}/graph.svg"

        refused = await api.post(
            f"/api/v1/runs/{run_id}/steps/good/retry", headers=AUTH
        )
        assert refused.status_code == 409
        assert "only failed steps can be retried" in refused.json()["detail"]

        FIXED.add(run_id)
        retried = await api.post(f"/api/v1/runs/{run_id}/steps/bad/retry", headers=AUTH)
        assert retried.status_code == 202, retried.text
        done = await wait_status(api, run_id, {"succeeded", "failed"})
        step = (await api.get(f"/api/v1/runs/{run_id}/steps/bad")).json()

    assert done["status"] == "succeeded"
    attempts = {s["key"]: s["attempts"] for s in done["steps"]}
    assert attempts == {"start": 1, "good": 1, "bad": 3, "after_bad": 1, "join": 1}
    # A failed attempt's writes roll back: each step's effects committed once.
    assert await _effects(h, run_id) == {
        "start": 1,
        "good": 1,
        "bad": 1,
        "after_bad": 1,
        "join": 1,
    }
    assert [a["status"] for a in step["attempts"]] == ["failed", "failed", "succeeded"]
    assert step["attempts"][0]["error_type"] == "builtins.FileNotFoundError"
    assert "the input file is missing" in step["attempts"][0]["traceback"]


async def test_api_cancel_stops_a_running_run(h: Harness) -> None:
    """Cancelling a run in progress answers the cancelled run; again is a 409;
    retrying its running step (whose row the attempt holds) is a prompt 409."""
    await h.start_worker()
    async with api_client(h) as api:
        run_id = (await api.post("/api/v1/graphs/api_slow/runs", headers=AUTH)).json()[
            "id"
        ]
        await wait_status(api, run_id, {"running"})
        await wait_for(lambda: str(run_id) in RELEASE)

        busy = await api.post(f"/api/v1/runs/{run_id}/steps/hold/retry", headers=AUTH)
        cancelled = await api.post(f"/api/v1/runs/{run_id}/cancel", headers=AUTH)
        again = await api.post(f"/api/v1/runs/{run_id}/cancel", headers=AUTH)
        RELEASE[run_id].set()
        shown = (await api.get(f"/api/v1/runs/{run_id}")).json()

    assert (busy.status_code, busy.json()["code"]) == (409, "busy")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert again.status_code == 409
    assert again.json()["code"] == "run_finished"
    assert {s["key"]: s["status"] for s in shown["steps"]}["after"] == "cancelled"


async def test_api_second_trigger_answers_409_with_the_running_run(h: Harness) -> None:
    """A trigger past the graph's limit is refused naming the run in progress."""
    async with api_client(h) as api:
        first = await api.post("/api/v1/graphs/api_slow/runs", headers=AUTH)
        second = await api.post("/api/v1/graphs/api_slow/runs", headers=AUTH)

    assert first.status_code == 202
    assert second.status_code == 409
    body = second.json()
    assert body["code"] == "run_in_progress"
    assert [r["id"] for r in body["running"]] == [first.json()["id"]]


async def test_api_unknown_targets_are_refused(h: Harness) -> None:
    """Unknown runs, steps and graphs answer 404, a malformed run id 422."""
    async with api_client(h) as api:
        run_id = (
            await api.post("/api/v1/graphs/api_branches/runs", headers=AUTH)
        ).json()["id"]
        cases = [
            (f"/api/v1/runs/{uuid.uuid4()}/steps/bad/retry", 404, "run_not_found"),
            (f"/api/v1/runs/{run_id}/steps/nope/retry", 404, "step_not_found"),
            (f"/api/v1/runs/{run_id}/steps/nope/rerun", 404, "step_not_found"),
            ("/api/v1/runs/not-a-uuid/steps/bad/retry", 422, "invalid_request"),
            (f"/api/v1/runs/{uuid.uuid4()}/cancel", 404, "run_not_found"),
            ("/api/v1/graphs/no_such_graph/runs", 404, "unknown_graph"),
        ]
        answers = [(await api.post(path, headers=AUTH), s, c) for path, s, c in cases]
        read = await api.get(f"/api/v1/runs/{run_id}/steps/nope")

    for response, status, code in answers:
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert answers[1][0].json()["detail"] == f"run {run_id} has no step 'nope'"
    assert read.status_code == 404


BAD_TRIGGERS = [
    ('{"logical_time": "2026-11-30T05:00:00"}', "timezone"),
    ('{"params": {"colour": "red"}}', "does not take parameter(s) colour"),
    ('{"params": {"size": NaN}}', "NaN"),
    ('{"actor": "a\\u0000b"}', "actor"),
    ('{"unexpected": 1}', "unexpected"),
    ('{"logical_time": "0001-01-01T00:00:00+14:00"}', "out of range"),
    ('{"params": ', "JSON"),
]


async def test_api_trigger_refuses_bad_input_without_writing(h: Harness) -> None:
    """Bad trigger bodies answer 422 naming the problem and start no run."""
    async with api_client(h) as api:
        answers = [
            await api.post(
                "/api/v1/graphs/api_branches/runs",
                content=raw,
                headers={**AUTH, "Content-Type": "application/json"},
            )
            for raw, _ in BAD_TRIGGERS
        ]
        runs = (await api.get("/api/v1/runs")).json()

    for response, (raw, fragment) in zip(answers, BAD_TRIGGERS, strict=True):
        assert response.status_code == 422, raw
        assert fragment in response.json()["detail"], response.text
    assert runs["items"] == []


async def _table_counts(h: Harness) -> dict[str, object]:
    async with h.client.sessions() as s:
        counts = {}
        for table in ("runs", "step_runs", "attempts", "actions", "schedules"):
            counts[table] = await s.scalar(text(f"SELECT count(*) FROM {table}"))
        counts["statuses"] = sorted(
            tuple(r)
            for r in await s.execute(text("SELECT step_key, status FROM step_runs"))
        )
        return counts


async def test_api_mutations_without_token_answer_401_and_write_nothing(
    h: Harness,
) -> None:
    """Every change asked without (or with a wrong) token is 401 and writes nothing."""
    async with api_client(h) as api:
        run_id = (
            await api.post("/api/v1/graphs/api_branches/runs", headers=AUTH)
        ).json()["id"]
        before = await _table_counts(h)
        paths = [
            "/api/v1/graphs/api_branches/runs",
            "/api/v1/graphs/api_slow/runs",
            f"/api/v1/runs/{run_id}/steps/bad/retry",
            f"/api/v1/runs/{run_id}/steps/start/rerun",
            f"/api/v1/runs/{run_id}/cancel",
            "/api/v1/graphs/api_branches/pause",
        ]
        answers = []
        for path in paths:
            for headers in ({"X-Actor": "x"}, {"Authorization": "Bearer wrong"}):
                answers.append(await api.post(path, headers=headers, json={}))
        after = await _table_counts(h)

    assert {r.status_code for r in answers} == {401}
    assert all(r.headers["www-authenticate"].startswith("Bearer") for r in answers)
    assert after == before


async def test_api_without_configured_token_refuses_changes(h: Harness) -> None:
    """With no API_TOKEN configured a change is refused (403) and reads work."""
    async with api_client(h, api_token=None) as api:
        change = await api.post("/api/v1/graphs/api_slow/runs", headers=AUTH)
        read = await api.get("/api/v1/runs")

    assert change.status_code == 403
    assert "no API_TOKEN is configured" in change.json()["detail"]
    assert read.status_code == 200


SEED_RUNS = """
INSERT INTO runs (id, graph_name, graph_hash, definition, status, trigger, actor,
                  logical_time, params, created_at)
SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid,
       CASE WHEN i % 2 = 0 THEN 'api_branches' ELSE 'api_slow' END, 'h', '{}',
       CASE WHEN i % 3 = 0 THEN 'failed' ELSE 'succeeded' END, 'api', 'seed',
       timestamptz '2026-11-01Z' + i * interval '1 day', '{}',
       timestamptz '2026-11-20Z' + (i / 2) * interval '1 hour'
FROM generate_series(1, 7) i
"""


async def test_api_run_history_pages_and_filters(h: Harness) -> None:
    """Runs list newest first in keyset pages that neither repeat nor skip (ties
    on created_at included) and filter by graph, status and both time ranges."""
    async with h.client.sessions() as s, s.begin():
        await s.execute(text(SEED_RUNS))
    async with api_client(h) as api:
        pages, cursor = [], None
        while True:
            params = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await api.get("/api/v1/runs", params=params)).json()
            pages.append([r["id"][-1] for r in page["items"]])
            cursor = page["next_cursor"]
            if cursor is None:
                break
        filtered = {
            query: [
                r["id"][-1]
                for r in (await api.get(f"/api/v1/runs?{query}")).json()["items"]
            ]
            for query in (
                "graph=api_slow",
                "status=failed",
                "logical_time_from=2026-11-03T00:00:00Z&logical_time_to=2026-11-05T00:00Z",
                "created_from=2026-11-20T02:00:00%2B00:00",
                "created_to=2026-11-20T01:00:00Z&graph=api_slow",
            )
        }
        naive = await api.get("/api/v1/runs?created_from=2026-11-20T02:00:00")
        damaged = await api.get("/api/v1/runs?cursor=" + cursor_of(["x", "y"]))

    assert pages == [["7", "6", "5"], ["4", "3", "2"], ["1"]]
    assert filtered == {
        "graph=api_slow": ["7", "5", "3", "1"],
        "status=failed": ["6", "3"],
        "logical_time_from=2026-11-03T00:00:00Z&logical_time_to=2026-11-05T00:00Z": [
            "3",
            "2",
        ],
        "created_from=2026-11-20T02:00:00%2B00:00": ["7", "6", "5", "4"],
        "created_to=2026-11-20T01:00:00Z&graph=api_slow": ["1"],
    }
    assert naive.status_code == 422
    assert damaged.status_code == 400


def cursor_of(key: list[object]) -> str:
    from api.pagination import encode_cursor

    return encode_cursor("runs", key)
