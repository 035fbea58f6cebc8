"""propagate_norm_amendment on a real worker: lineage order, idempotence, cycles."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

import graphs.propagate_norm_amendment as propagation
from orchestrator.states import Trigger
from tasks.amendments import request_amendment
from tests.support.engine import Harness, harness

T = datetime(2026, 11, 30, 12, tzinfo=UTC)


@pytest.fixture
async def h(db_url: str, redis_url: str, queue_name: str) -> AsyncIterator[Harness]:
    graph = propagation.GRAPH
    async with harness({graph.name: graph}, db_url, redis_url, queue_name) as hh:
        yield hh


async def _seed(h: Harness, edges: list[tuple[str, str]]) -> None:
    """Norms N*, rules R*; each edge is (child, parent)."""
    nodes = {n for edge in edges for n in edge}
    async with h.client.sessions() as s, s.begin():
        for node in sorted(nodes):
            if node.startswith("N"):
                await s.execute(
                    text(
                        "INSERT INTO norms (id, title, text, version, source)"
                        " VALUES (:id, 'title', 'x', 1, 'test')"
                    ),
                    {"id": node},
                )
            else:
                await s.execute(
                    text(
                        """
                        INSERT INTO rules (id, title, text, locale, version, maturity,
                            status, created_at, review_interval_days, legal_hold,
                            scope, effect, required_locales, examples, source)
                        VALUES (:id, 'title', 'x', 'en', 1, 'stable', 'active',
                            '2026-01-01Z', 180, false, 'security', 'deny', '{}', '[]', 'test')
                        """
                    ),
                    {"id": node},
                )
        for child, parent in edges:
            await s.execute(
                text("INSERT INTO lineage VALUES (:c, :p, :ck, :pk)"),
                {
                    "c": child,
                    "p": parent,
                    "ck": "norm" if child.startswith("N") else "rule",
                    "pk": "norm" if parent.startswith("N") else "rule",
                },
            )


async def _amend(h: Harness, norm: str, version: int = 2):
    return await request_amendment(
        h.client,
        norm_id=norm,
        version=version,
        summary="scope narrowed",
        actor="test",
        at=T,
        trigger=Trigger.API,
    )


async def _dump(h: Harness) -> dict[str, list[tuple[object, ...]]]:
    async with h.client.sessions() as s:
        out = {}
        for table, order in (
            ("amendment_notices", "node_id"),
            ("alerts", "id"),
            ("rules", "id"),
            ("norms", "id"),
        ):
            rows = await s.execute(text(f"SELECT * FROM {table} ORDER BY {order}"))
            out[table] = [tuple(r) for r in rows]
        return out


async def test_propagation_follows_lineage_order(h: Harness) -> None:
    """Each affected node gets one step, started only after its parents' steps."""
    edges = [
        ("N2", "N1"),
        ("N3", "N2"),
        ("R1", "N2"),
        ("R2", "N3"),
        ("R2", "R1"),
        ("R9", "N9"),
    ]
    await _seed(h, edges)
    await h.start_worker()
    result = await _amend(h, "N1")

    assert await h.client.wait(result.run_id, timeout_s=30) == "succeeded"
    steps = await h.steps(result.run_id)
    assert set(steps) == {
        "plan",
        "summarize",
        "notice:N2",
        "notice:N3",
        "notice:R1",
        "notice:R2",
    }
    async with h.client.sessions() as s:
        times = {
            r[0]: (r[1], r[2])
            for r in await s.execute(
                text(
                    "SELECT step_key, started_at, finished_at FROM step_runs WHERE run_id = :r"
                ),
                {"r": result.run_id},
            )
        }
        notices = {
            r[0]: r[1]
            for r in await s.execute(
                text("SELECT node_id, depth FROM amendment_notices")
            )
        }
        requested: dict[str, datetime | None] = dict(
            (await s.execute(text("SELECT id, review_requested_at FROM rules"))).all()
        )
        alerts = sorted(
            (await s.execute(text("SELECT kind, rule_id, severity FROM alerts"))).all()
        )
    for child, parent in edges:
        if f"notice:{parent}" in times and f"notice:{child}" in times:
            assert times[f"notice:{parent}"][1] <= times[f"notice:{child}"][0]
    assert notices == {"N2": 1, "N3": 2, "R1": 2, "R2": 3}
    assert requested["R1"] == requested["R2"] == T
    assert requested["R9"] is None
    assert alerts == [
        ("norm_amended", "R1", "warning"),
        ("norm_amended", "R2", "warning"),
    ]


async def test_same_amendment_twice_answers_with_existing_run(h: Harness) -> None:
    """Asking again for (norm, version) returns the first run and changes nothing."""
    await _seed(h, [("N2", "N1"), ("R1", "N2")])
    await h.start_worker()
    first = await _amend(h, "N1")
    assert await h.client.wait(first.run_id, timeout_s=30) == "succeeded"
    before = await _dump(h)

    second = await _amend(h, "N1")

    assert second.run_id == first.run_id
    assert second.created is False
    assert await _dump(h) == before


async def test_cycle_in_database_lineage_fails_planning(h: Harness) -> None:
    """A lineage cycle that reached the database fails the plan step, named."""
    await _seed(h, [("N2", "N1"), ("N3", "N2"), ("N2", "N3")])
    await h.start_worker()
    result = await _amend(h, "N1")

    assert await h.client.wait(result.run_id, timeout_s=30) == "failed"
    steps = await h.steps(result.run_id)
    assert steps["plan"]["status"] == "failed"
    assert steps["plan"]["attempt"] == 1
    assert "cycle" in steps["plan"]["error"]
    assert "N2" in steps["plan"]["error"]
    assert "N3" in steps["plan"]["error"]
    assert steps["summarize"]["status"] == "upstream_failed"


async def test_unknown_norm_is_refused(h: Harness) -> None:
    """An amendment of a norm that does not exist is refused before any run."""
    with pytest.raises(ValueError, match="norm 'N404' does not exist"):
        await _amend(h, "N404")
