"""The engine on real PostgreSQL and a real arq worker over real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.errors import RunInProgressError, StepNotRetryableError
from orchestrator.graph import Expansion, Graph, RetryPolicy, Step, task
from tests.support.engine import Harness, harness

FAST = RetryPolicy(max_attempts=3, backoff=timedelta(milliseconds=50), jitter=0.5)
BROKEN: set[str] = set()


async def _effect(ctx: StepContext) -> None:
    await ctx.session.execute(
        text("INSERT INTO effects (run_id, step_key, attempt) VALUES (:r, :k, :a)"),
        {"r": ctx.run_id, "k": ctx.step_key, "a": ctx.attempt},
    )


@task("test_write")
async def write(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    return {"step": ctx.step_key, "inputs": sorted(ctx.inputs)}


@task("test_flaky")
async def flaky(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    if ctx.attempt < 3:
        msg = f"transient failure on attempt {ctx.attempt}"
        raise ConnectionError(msg)
    return {"attempt": ctx.attempt}


@task("test_broken_unless_fixed")
async def broken(ctx: StepContext) -> dict[str, object]:
    await _effect(ctx)
    if str(ctx.run_id) not in BROKEN:
        msg = "the input file is missing"
        raise FileNotFoundError(msg)
    return {"fixed": True}


@task("test_savepoint")
async def savepoint(ctx: StepContext) -> dict[str, object]:
    """Keeps its first write, undoes a second one through a savepoint, and
    leaves a third to the step's failure: the task's session is inside the
    attempt's transaction, and its commit() sends nothing."""
    await _effect(ctx)
    with contextlib.suppress(LookupError):
        async with ctx.session.begin_nested():
            await ctx.session.execute(
                text("INSERT INTO effects VALUES (:r, 'undone', 0)"), {"r": ctx.run_id}
            )
            msg = "undo the savepoint"
            raise LookupError(msg)
    await ctx.session.commit()
    await ctx.session.execute(
        text("INSERT INTO effects VALUES (:r, 'doomed', :a)"),
        {"r": ctx.run_id, "a": ctx.attempt},
    )
    if ctx.attempt == 1:
        msg = "fail after the task's own commit"
        raise ConnectionError(msg)
    return {"attempt": ctx.attempt}


@task("test_expand")
async def expand(ctx: StepContext) -> Expansion:
    await _effect(ctx)
    n = int(ctx.params.get("n", 3))
    steps = [Step(f"node-{i}", "test_write", retry=FAST) for i in range(n)]
    edges = [(f"node-{i}", f"node-{i + 1}") for i in range(n - 1)]
    return Expansion(steps=steps, edges=edges, output={"expanded": n})


@task("test_expand_cycle")
async def expand_cycle(ctx: StepContext) -> Expansion:
    steps = [Step("x", "test_write"), Step("y", "test_write")]
    return Expansion(steps=steps, edges=[("x", "y"), ("y", "x")])


def _graphs() -> dict[str, Graph]:
    chain = Graph(
        "chain",
        [
            Step("a", write, retry=FAST),
            Step("b", write, retry=FAST),
            Step("c", write, retry=FAST),
        ],
        [("a", "b"), ("b", "c")],
    )
    flaky_graph = Graph("flaky", [Step("flaky", flaky, retry=FAST)])
    branches = Graph(
        "branches",
        [
            Step("start", write, retry=FAST),
            Step("bad", broken, retry=FAST),
            Step("after_bad", write, retry=FAST),
            Step("good", write, retry=FAST),
            Step("good2", write, retry=FAST),
            Step("join", write, retry=FAST),
        ],
        [
            ("start", "bad"),
            ("bad", "after_bad"),
            ("start", "good"),
            ("good", "good2"),
            ("after_bad", "join"),
            ("good2", "join"),
        ],
    )
    dynamic = Graph(
        "dynamic",
        [Step("plan", expand, retry=FAST), Step("report", write, retry=FAST)],
        [("plan", "report")],
        params_schema={"n": 3},
    )
    cyclic = Graph("cyclic", [Step("plan", expand_cycle, retry=FAST)])
    nested = Graph("nested", [Step("save", savepoint, retry=FAST)])
    return {g.name: g for g in (chain, flaky_graph, branches, dynamic, cyclic, nested)}


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    async with harness(_graphs(), db_url, redis_url, queue_name) as hh:
        async with hh.client.sessions() as s, s.begin():
            await s.execute(
                text("CREATE TABLE effects (run_id uuid, step_key text, attempt int)")
            )
        yield hh


async def _effects(h: Harness, run_id: object) -> list[tuple[str, int]]:
    async with h.client.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT step_key, attempt FROM effects WHERE run_id = :r ORDER BY 1, 2"
            ),
            {"r": run_id},
        )
        return [(r[0], r[1]) for r in rows]


async def test_chain_runs_in_order_and_succeeds(h: Harness) -> None:
    """A three-step chain succeeds, each step seeing its predecessor's output."""
    await h.start_worker()
    run_id = await h.run("chain")

    assert await h.client.wait(run_id, timeout_s=20) == "succeeded"
    steps = await h.steps(run_id)
    assert steps["b"]["output"] == {"step": "b", "inputs": ["a"]}
    assert steps["a"]["output"] == {"step": "a", "inputs": []}
    assert await _effects(h, run_id) == [("a", 1), ("b", 1), ("c", 1)]


async def test_flaky_step_records_three_attempts(h: Harness) -> None:
    """A step that fails twice then succeeds has three attempts, two failed."""
    await h.start_worker()
    run_id = await h.run("flaky")

    assert await h.client.wait(run_id, timeout_s=20) == "succeeded"
    attempts = await h.attempts(run_id, "flaky")
    assert [a["status"] for a in attempts] == ["failed", "failed", "succeeded"]
    assert attempts[0]["error_type"] == "builtins.ConnectionError"
    assert attempts[0]["error_message"] == "transient failure on attempt 1"
    # The failed attempts' writes rolled back with them.
    assert await _effects(h, run_id) == [("flaky", 3)]


async def test_failed_branch_lets_independent_branch_finish(h: Harness) -> None:
    """A failing step does not stop an independent branch; the run then fails."""
    await h.start_worker()
    run_id = await h.run("branches")

    assert await h.client.wait(run_id, timeout_s=30) == "failed"
    steps = await h.steps(run_id)
    assert steps["bad"]["status"] == "failed"
    assert steps["bad"]["attempt"] == 3
    assert steps["bad"]["error"] == "the input file is missing"
    assert steps["good"]["status"] == steps["good2"]["status"] == "succeeded"
    assert steps["after_bad"]["status"] == "upstream_failed"
    assert steps["join"]["status"] == "upstream_failed"


async def test_retry_failed_step_reuses_upstream_outputs(h: Harness) -> None:
    """Retrying a fixed step reruns it and its descendants only, with new budget."""
    await h.start_worker()
    run_id = await h.run("branches")
    assert await h.client.wait(run_id, timeout_s=30) == "failed"
    with pytest.raises(StepNotRetryableError, match="only failed steps"):
        await h.client.retry(run_id, "good", actor="ops")

    BROKEN.add(str(run_id))
    await h.client.retry(run_id, "bad", actor="ops")

    assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
    steps = await h.steps(run_id)
    assert steps["start"]["attempt"] == 1
    assert steps["good"]["attempt"] == 1
    assert steps["bad"]["attempt"] == 4
    assert steps["after_bad"]["attempt"] == 1
    assert steps["join"]["attempt"] == 1
    effects = await _effects(h, run_id)
    assert effects.count(("start", 1)) == 1
    assert ("bad", 4) in effects


async def test_expansion_runs_in_lineage_order(h: Harness) -> None:
    """An expanded run executes its new steps in edge order before the successor."""
    await h.start_worker()
    run_id = await h.run("dynamic", params={"n": 4})

    assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
    steps = await h.steps(run_id)
    assert set(steps) == {"plan", "report", "node-0", "node-1", "node-2", "node-3"}
    async with h.client.sessions() as s:
        rows = await s.execute(
            text(
                "SELECT step_key, started_at, finished_at FROM step_runs"
                " WHERE run_id = :r"
            ),
            {"r": run_id},
        )
        times = {r[0]: (r[1], r[2]) for r in rows}
    order = ["plan", "node-0", "node-1", "node-2", "node-3", "report"]
    for before, after in itertools.pairwise(order):
        assert times[before][1] <= times[after][0], (before, after)


async def test_expansion_with_cycle_fails_naming_nodes(h: Harness) -> None:
    """An expansion with a cycle fails its step with the cycle's nodes, once."""
    await h.start_worker()
    run_id = await h.run("cyclic")

    assert await h.client.wait(run_id, timeout_s=20) == "failed"
    steps = await h.steps(run_id)
    assert steps["plan"]["attempt"] == 1
    assert "cycle" in steps["plan"]["error"]
    assert (
        "x -> y -> x" in steps["plan"]["error"]
        or "y -> x -> y" in steps["plan"]["error"]
    )


async def test_second_trigger_refused_while_running(h: Harness) -> None:
    """With no worker, a second trigger of the same graph is refused."""
    first = await h.run("chain")

    with pytest.raises(RunInProgressError) as info:
        await h.run("chain")
    assert info.value.running == [first]


async def test_redelivered_job_after_success_does_nothing(h: Harness) -> None:
    """A job delivered again after its attempt succeeded adds no attempt or write."""
    await h.start_worker()
    run_id = await h.run("chain")
    assert await h.client.wait(run_id, timeout_s=20) == "succeeded"
    redis = await h.client.redis()

    # Bypass arq's de-duplication: a brand-new job id carrying the same attempt.
    await redis.enqueue_job(
        "run_attempt", str(run_id), "b", 1, _job_id="dup-1", _queue_name=h.queue_name
    )
    await asyncio.sleep(1.0)

    assert await _effects(h, run_id) == [("a", 1), ("b", 1), ("c", 1)]
    assert [a["attempt"] for a in await h.attempts(run_id, "b")] == [1]


async def test_sweep_requeues_step_whose_job_vanished(h: Harness) -> None:
    """A queued step whose arq job was deleted from Redis is found and run."""
    run_id = await h.run("chain")
    redis = await h.client.redis()
    deleted = await redis.delete(f"arq:job:rr:{run_id}:1:a")
    await redis.zrem(h.queue_name, f"rr:{run_id}:1:a")
    assert deleted == 1

    await h.start_worker()
    assert await h.client.wait(run_id, timeout_s=30) == "succeeded"
    assert await _effects(h, run_id) == [("a", 1), ("b", 1), ("c", 1)]


async def test_cancelled_run_queued_jobs_do_not_execute(h: Harness) -> None:
    """Jobs already queued in Redis for a cancelled run run nothing when delivered."""
    run_id = await h.run("chain")
    await h.client.cancel(run_id, actor="ops")
    redis = await h.client.redis()
    assert await redis.exists(f"arq:job:rr:{run_id}:1:a") == 1

    await h.start_worker()
    await wait_for_queue_empty(h)

    assert await _effects(h, run_id) == []
    assert await h.client.run_status(run_id) == "cancelled"
    assert [a["status"] for a in await h.attempts(run_id, "a")] == ["cancelled"]
    assert {s["status"] for s in (await h.steps(run_id)).values()} == {"cancelled"}


async def test_task_savepoint_and_commit_stay_inside_the_attempt(h: Harness) -> None:
    await h.start_worker()
    run_id = await h.run("nested")

    assert await h.client.wait(run_id, timeout_s=20) == "succeeded"
    assert await _effects(h, run_id) == [("doomed", 2), ("save", 2)]


async def wait_for_queue_empty(h: Harness) -> None:
    redis = await h.client.redis()
    for _ in range(100):
        if not await redis.zcard(h.queue_name):
            return
        await asyncio.sleep(0.05)
    msg = "the queue did not drain"
    raise AssertionError(msg)
