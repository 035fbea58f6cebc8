"""Property-based requests across the whole OpenAPI schema (schemathesis).

The database is seeded through a real worker with a succeeded run, failed runs,
an expanded norm-propagation run and runs held in progress, plus alerts, rules,
norms and proposals; the worker keeps running (so ``/readyz`` is ready and what
the requests start is executed). Schemathesis then generates requests for every operation
from the app's own OpenAPI document, valid ones and invalid ones, and sends them
with the token to the API served by uvicorn. Identifiers are random in generated
requests, so a drawn share of them is steered to identifiers that exist (a run,
a run's step, an alert, a proposal, a rule, a norm, a graph), and a backfill to a
small past range, so that every operation is also seen succeeding.

Every response must be a non-5xx answer that the schema documents (status, content
type and body); every operation must answer 2xx at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import text

from graphs import all_graphs
from orchestrator.context import StepContext
from orchestrator.graph import Graph, RetryPolicy, Step, task
from tests.support.api import TOKEN, app_for, seed_domain, serve
from tests.support.engine import Harness, harness

ONCE = RetryPolicy(max_attempts=1, backoff=timedelta(milliseconds=10))
EXAMPLES = {"positive": 46, "negative": 12}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MORE_SEED = [
    """INSERT INTO alerts (kind, severity, rule_id, subject, status, details,
           first_seen_at, last_seen_at)
       SELECT 'fuzz', 'warning', 'R1', 'R1|' || i, 'open', '{}', '2026-10-01Z',
              '2026-10-01Z'
       FROM generate_series(1, 30) i""",
    """INSERT INTO proposals (id, status, title, text, rationale, correction_ids,
           figures, logical_time)
       SELECT 'P-fuzz-' || i, 'pending', 'Proposal ' || i, 'Text', 'Why', '{}',
              '{}', '2026-10-02Z'
       FROM generate_series(1, 30) i""",
]


@task("fuzz_ok")
async def ok(ctx: StepContext) -> dict[str, object]:
    return {"step": ctx.step_key}


HOLD = asyncio.Event()


@task("fuzz_hold")
async def hold(ctx: StepContext) -> dict[str, object]:
    await HOLD.wait()
    return {}


@task("fuzz_fail")
async def fail(ctx: StepContext) -> dict[str, object]:
    msg = "seeded failure"
    raise RuntimeError(msg)


def _graphs() -> dict[str, Graph]:
    fuzz = [
        Graph(
            "fuzz_chain",
            [Step("a", ok, retry=ONCE), Step("b", ok, retry=ONCE)],
            [("a", "b")],
            max_active_runs=10_000,
        ),
        Graph(
            "fuzz_failing",
            [Step("a", ok, retry=ONCE), Step("b", fail, retry=ONCE), Step("c", ok)],
            [("a", "b"), ("b", "c")],
            max_active_runs=10_000,
        ),
        Graph("fuzz_held", [Step("hold", hold, retry=ONCE)], max_active_runs=10_000),
    ]
    return {**all_graphs(), **{g.name: g for g in fuzz}}


@dataclass
class Known:
    """Identifiers that exist, for steering generated requests."""

    runs: list[str]
    steps: list[tuple[str, str]]
    alerts: list[int]
    proposals: list[str]
    rules: list[str]
    norms: list[str]
    graphs: list[str]


@dataclass
class Tally:
    statuses: dict[str, Counter[int]] = field(
        default_factory=lambda: defaultdict(Counter)
    )
    failures: list[str] = field(default_factory=list)
    slowest: tuple[float, str] = (0.0, "")

    @property
    def requests(self) -> int:
        return sum(sum(c.values()) for c in self.statuses.values())


async def _seed(h: Harness) -> Known:
    await seed_domain(h.client.sessions)
    async with h.client.sessions() as s, s.begin():
        for statement in MORE_SEED:
            await s.execute(text(statement))
    await h.start_worker()
    finished = [await h.run("fuzz_chain")] + [
        await h.run("fuzz_failing") for _ in range(6)
    ]
    finished.append(
        await h.run("propagate_norm_amendment", params={"norm_id": "N1", "version": 2})
    )
    for run_id in finished:
        await h.client.wait(run_id, timeout_s=30)
    for _ in range(6):
        await h.run("fuzz_held")
    async with h.client.sessions() as s:

        async def column(query: str) -> list[Any]:
            return list(await s.scalars(text(query)))

        # Failed steps come three times over: only they can be retried.
        steps = [
            tuple(r)
            for r in await s.execute(
                text(
                    "SELECT run_id::text, step_key FROM step_runs, generate_series(1, 3)"
                    " g WHERE g = 1 OR status = 'failed'"
                )
            )
        ]
        return Known(
            runs=await column("SELECT id::text FROM runs"),
            steps=steps,
            alerts=await column("SELECT id FROM alerts"),
            proposals=await column("SELECT id FROM proposals"),
            rules=await column("SELECT id FROM rules"),
            norms=await column("SELECT id FROM norms"),
            graphs=sorted(h.client.graphs),
        )


class Pools:
    """Existing identifiers handed out in turn, so steered requests spread over
    all of them (a drawn index would favour the first)."""

    def __init__(self, known: Known) -> None:
        shuffle = random.Random(7).sample
        self.cycles = {
            name: itertools.cycle(shuffle(pool, len(pool)))
            for name, pool in (
                ("steps", known.steps),
                ("run_id", known.runs),
                ("alert_id", known.alerts),
                ("proposal_id", known.proposals),
                ("rule_id", known.rules),
                ("norm_id", known.norms),
                ("name", known.graphs),
            )
        }

    def next(self, name: str) -> Any:
        return next(self.cycles[name])


def _steer(case: Any, draw: Callable[[Any], Any], pools: Pools) -> None:
    """Point a drawn share of requests at things that exist, naming who asks."""
    path = dict(case.path_parameters or {})
    if path and draw(st.booleans()):
        for name in path:
            if name == "step_key":
                path["run_id"], path["step_key"] = pools.next("steps")
            elif name != "run_id" or "step_key" not in path:
                path[name] = pools.next(name)
        case.path_parameters = path
        case.headers.setdefault("X-Actor", "fuzzer")
    if case.path.endswith("/backfill") and draw(st.booleans()):
        case.body = {
            "from": "2026-11-01T00:00:00Z",
            "to": "2026-11-02T00:00:00Z",
            "actor": "fuzzer",
        }
    if (
        case.path.endswith("/reviews")
        and isinstance(case.body, dict)
        and draw(st.booleans())
    ):
        case.body = {k: v for k, v in case.body.items() if k != "at"}


@dataclass
class Target:
    """Where and how the generated requests are sent, and what they found."""

    base: str
    pools: Pools
    tally: Tally
    session: requests.Session = field(default_factory=requests.Session)
    headers: dict[str, str] = field(
        default_factory=lambda: {"Authorization": f"Bearer {TOKEN}"}
    )

    def send(self, label: str, case: Any, data: st.DataObject) -> None:
        """Steer, send and check one generated request."""
        _steer(case, data.draw, self.pools)
        if "X-Actor" not in case.headers and data.draw(st.booleans()):
            case.headers["X-Actor"] = "fuzzer"
        try:
            response = case.call(
                base_url=self.base,
                session=self.session,
                headers=self.headers,
                timeout=30,
            )
        except requests.RequestException as exc:
            self.tally.failures.append(f"{label}: {exc!r} for {case!r}")
            return
        self.tally.statuses[label][response.status_code] += 1
        self.tally.slowest = max(self.tally.slowest, (response.elapsed, label))
        try:
            case.validate_response(response, checks=CHECKS, headers=self.headers)
        except FailureGroup as exc:
            self.tally.failures.append(f"{label}: {str(exc)[:1500]}")


def _explore(target: Target, operation: Any, mode: str, examples: int) -> None:
    strategy = operation.as_strategy(generation_mode=schemathesis.GenerationMode(mode))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=strategy, data=st.data())
    def send(case: Any, data: st.DataObject) -> None:
        target.send(operation.label, case, data)

    try:
        send()
    except Unsatisfiable:
        # An operation without inputs has no invalid request to make.
        assert mode == "negative", operation.label


def _fuzz(base: str, schema_doc: dict[str, Any], known: Known) -> Tally:
    """Send generated requests for every operation; runs in a thread."""
    schema = schemathesis.openapi.from_dict(schema_doc)
    target = Target(base, Pools(known), Tally())
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        for mode, examples in EXAMPLES.items():
            _explore(target, result.ok(), mode, examples)
    return target.tally


async def _stop_workers(h: Harness) -> None:
    """Stop the worker after its held attempts were aborted by cancelled runs.

    arq keeps the task of an aborted job in ``Worker.tasks`` until its next poll,
    and ``Worker.close()`` gathers those tasks, re-raising the abort's
    ``CancelledError`` before it closes its Redis pool; finished tasks are
    dropped first so that the worker closes cleanly.
    """
    for worker, main in h.workers:
        worker.stopping = True
        worker.wake.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(asyncio.shield(main), 10)
        for job_id, job in list(worker.tasks.items()):
            if job.done():
                del worker.tasks[job_id]
        await worker.close()
    h.workers.clear()


@pytest.mark.slow
async def test_api_schemathesis_finds_no_server_error_or_schema_break(
    db_url: str, redis_url: str, queue_name: str
) -> None:
    """Over a thousand generated requests get documented, non-5xx answers, and
    every operation answers 2xx at least once."""
    async with harness(_graphs(), db_url, redis_url, queue_name) as h:
        known = await _seed(h)
        app = app_for(h)
        try:
            async with serve(app) as base:
                tally = await asyncio.to_thread(_fuzz, base, app.openapi(), known)
        finally:
            HOLD.set()
            await _stop_workers(h)

    summary = {
        op: dict(sorted(codes.items())) for op, codes in sorted(tally.statuses.items())
    }
    print(
        json.dumps(
            {
                "requests": tally.requests,
                "slowest": tally.slowest,
                "by_operation": summary,
            },
            indent=1,
        )
    )
    assert not tally.failures, "\n\n".join(tally.failures[:12])
    assert tally.requests >= 1000
    assert len(summary) == 24
    never_ok = [
        op for op, codes in summary.items() if not any(200 <= c < 300 for c in codes)
    ]
    assert never_ok == []
