"""The cluster_corrections tasks against PostgreSQL, chained as the engine does."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from graphs.cluster_corrections import GRAPH
from orchestrator.context import StepContext
from tasks.flywheel import (
    cluster_corrections,
    draft_proposals,
    embed_corrections,
    fetch_corrections,
    proposal_id,
    store_proposals,
)
from tasks.providers.local import local_providers
from tasks.schema import Correction, Proposal

T = datetime(2025, 3, 10, 5, 0, tzinfo=UTC)

STEPS = [
    ("fetch", fetch_corrections),
    ("embed", embed_corrections),
    ("cluster", cluster_corrections),
    ("draft", draft_proposals),
    ("store", store_proposals),
]

EXPORT = "deny exports of customer email lists to personal mail accounts"
REFUND = "refunds above five hundred euros need a second approval from finance"
PROMPT = "block prompts that ask the model to reveal its hidden system instructions"


def correction(
    cid: str,
    summary: str,
    confidence: float,
    created_at: datetime = T - timedelta(days=1),
    status: str = "unprocessed",
) -> Correction:
    return Correction(
        id=cid,
        rule_id="R-1",
        evaluation_id=None,
        analysis_type="false_positive",
        status=status,
        delta_summary=summary,
        confidence=confidence,
        created_at=created_at,
    )


async def insert(sessions: async_sessionmaker[AsyncSession], *rows: Correction) -> None:
    async with sessions() as session, session.begin():
        session.add_all(rows)


async def run_step(
    sessions: async_sessionmaker[AsyncSession],
    key: str,
    inputs: dict[str, Any],
    run_id: uuid.UUID,
    logical_time: datetime = T,
) -> dict[str, Any]:
    """One attempt of one step in its own transaction, as the engine runs it."""
    task = dict(STEPS)[key]
    async with sessions() as session, session.begin():
        ctx = StepContext(
            run_id=run_id,
            graph_name="cluster_corrections",
            step_key=key,
            attempt=1,
            logical_time=logical_time,
            trigger="cli",
            actor="test",
            params={},
            inputs=inputs,
            session=session,
            resources={"providers": local_providers()},
        )
        output: dict[str, Any] = await task(ctx)

    decoded: dict[str, Any] = json.loads(json.dumps(output))

    return decoded


async def run_flywheel(
    sessions: async_sessionmaker[AsyncSession], logical_time: datetime = T
) -> dict[str, dict[str, Any]]:
    """All five steps in order, each given its predecessor's output."""
    run_id = uuid.uuid4()
    outputs: dict[str, dict[str, Any]] = {}
    previous = None
    for key, _ in STEPS:
        inputs: dict[str, Any] = {previous: outputs[previous]} if previous else {}
        outputs[key] = await run_step(sessions, key, inputs, run_id, logical_time)
        previous = key

    return outputs


async def dump(sessions: async_sessionmaker[AsyncSession], table: str) -> list[Any]:
    async with sessions() as session:
        result = await session.execute(text(f"SELECT * FROM {table} ORDER BY 1, 2"))
        return [tuple(row) for row in result]


async def corrections_by_id(
    sessions: async_sessionmaker[AsyncSession],
) -> dict[str, Correction]:
    async with sessions() as session:
        rows = (await session.execute(select(Correction))).scalars().all()
        return {row.id: row for row in rows}


async def proposals(sessions: async_sessionmaker[AsyncSession]) -> list[Proposal]:
    async with sessions() as session:
        return list((await session.execute(select(Proposal))).scalars().all())


def test_graph_chains_the_five_steps_daily_at_five() -> None:
    """The graph is fetch → embed → cluster → draft → store, daily at 05:00."""
    assert GRAPH.topological_keys() == ["fetch", "embed", "cluster", "draft", "store"]
    assert GRAPH.schedule == "0 5 * * *"


async def test_flywheel_proposes_a_rule_for_three_confident_corrections(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Three near-identical corrections with mean confidence 0.8033 make a proposal."""
    await insert(
        sessions,
        correction("C-1", EXPORT, 0.8),
        correction("C-2", EXPORT.capitalize() + ".", 0.8),
        correction("C-3", EXPORT.replace("personal", "private"), 0.81),
        correction("C-9", REFUND, 0.99),
    )

    outputs = await run_flywheel(sessions)

    stored = await proposals(sessions)
    assert len(stored) == 1
    proposal = stored[0]
    assert proposal.id == proposal_id(T, ["C-1", "C-2", "C-3"])
    assert proposal.status == "pending"
    assert proposal.correction_ids == ["C-1", "C-2", "C-3"]
    assert proposal.logical_time == T
    assert proposal.figures["size"] == 3
    assert abs(proposal.figures["mean_confidence"] - 0.80333) < 1e-4
    assert proposal.figures["mean_similarity"] >= 0.8
    assert "C-1, C-2, C-3" in proposal.rationale
    corrections = await corrections_by_id(sessions)
    for cid in ("C-1", "C-2", "C-3"):
        assert corrections[cid].status == "processed"
        assert corrections[cid].processed_at == T
        assert corrections[cid].proposal_id == proposal.id
    assert corrections["C-9"].status == "unprocessed"
    assert corrections["C-9"].processed_at is None
    assert outputs["cluster"]["components"] == 2
    assert outputs["store"]["proposals"] == [proposal.id]


async def test_flywheel_does_not_propose_from_two_corrections(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A cluster of two corrections, however confident, makes no proposal."""
    await insert(
        sessions, correction("C-1", EXPORT, 0.99), correction("C-2", EXPORT, 0.99)
    )

    outputs = await run_flywheel(sessions)

    assert await proposals(sessions) == []
    assert outputs["cluster"]["clusters"] == []
    assert {c.status for c in (await corrections_by_id(sessions)).values()} == {
        "unprocessed"
    }


async def test_flywheel_does_not_propose_at_mean_confidence_of_exactly_0_8(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Means of exactly 0.8 (0.8 x 3, or 0.7 + 0.9 + 0.8) do not exceed 0.8."""
    await insert(
        sessions,
        correction("A-1", EXPORT, 0.8),
        correction("A-2", EXPORT, 0.8),
        correction("A-3", EXPORT, 0.8),
        correction("B-1", REFUND, 0.7),
        correction("B-2", REFUND, 0.9),
        correction("B-3", REFUND, 0.8),
    )

    outputs = await run_flywheel(sessions)

    assert len(outputs["cluster"]["clusters"]) == 2
    assert outputs["draft"]["drafts"] == []
    assert await proposals(sessions) == []


async def test_fetch_takes_the_14_days_before_logical_time(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """[T - 14 days, T): the lower bound is in, a second earlier and T are out."""
    start = T - timedelta(days=14)
    await insert(
        sessions,
        correction("IN-start", PROMPT, 0.9, created_at=start),
        correction("IN-mid", PROMPT, 0.9, created_at=T - timedelta(days=7)),
        correction("IN-end", PROMPT, 0.9, created_at=T - timedelta(microseconds=1)),
        correction("OUT-early", PROMPT, 0.9, created_at=start - timedelta(seconds=1)),
        correction("OUT-at-T", PROMPT, 0.9, created_at=T),
        correction("OUT-done", PROMPT, 0.9, status="processed"),
    )

    outputs = await run_flywheel(sessions)

    assert outputs["fetch"]["corrections"] == 3
    assert outputs["fetch"]["window_start"] == start.isoformat()
    assert outputs["fetch"]["window_end"] == T.isoformat()
    assert outputs["embed"]["embedded"] == 3
    embedded = {row[0] for row in await dump(sessions, "correction_embeddings")}
    assert embedded == {"IN-start", "IN-mid", "IN-end"}
    (proposal,) = await proposals(sessions)
    assert proposal.correction_ids == ["IN-end", "IN-mid", "IN-start"]
    corrections = await corrections_by_id(sessions)
    assert corrections["OUT-early"].status == "unprocessed"
    assert corrections["OUT-at-T"].status == "unprocessed"
    assert corrections["OUT-done"].proposal_id is None


async def test_flywheel_run_twice_for_the_same_slot_adds_nothing(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """A second run, and a re-run of the store step, leave every table as it was."""
    await insert(
        sessions,
        *(correction(f"E-{i}", EXPORT, 0.9) for i in range(4)),
        correction("R-1", REFUND, 0.95),
        correction("R-2", REFUND, 0.95),
        correction("P-1", PROMPT, 0.95),
    )
    first = await run_flywheel(sessions)
    before = {
        table: await dump(sessions, table)
        for table in ("proposals", "corrections", "correction_embeddings")
    }

    second = await run_flywheel(sessions)
    store_again = await run_step(
        sessions, "store", {"draft": first["draft"]}, uuid.uuid4()
    )

    for table, rows in before.items():
        assert await dump(sessions, table) == rows, table
    assert len(before["proposals"]) == 1
    assert first["store"]["created"] == 1
    assert second["store"]["proposals"] == []
    assert store_again["created"] == 0
    assert store_again["corrections_processed"] == 0
    assert store_again["proposals"] == first["store"]["proposals"]


async def test_embed_reuses_cached_embeddings_on_a_second_run(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Embeddings are computed once per correction and model, then read back."""
    await insert(
        sessions,
        correction("R-1", REFUND, 0.95),
        correction("R-2", REFUND, 0.95),
        correction("P-1", PROMPT, 0.95),
    )

    first = await run_flywheel(sessions)
    vectors = await dump(sessions, "correction_embeddings")
    second = await run_flywheel(sessions)

    assert (first["embed"]["embedded"], first["embed"]["cached"]) == (3, 0)
    assert (second["embed"]["embedded"], second["embed"]["cached"]) == (0, 3)
    assert await dump(sessions, "correction_embeddings") == vectors
    assert second["cluster"]["corrections"] == 3


async def test_store_skips_a_draft_whose_corrections_another_proposal_took(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Storing an old draft after its corrections were processed adds nothing."""
    await insert(sessions, *(correction(f"E-{i}", EXPORT, 0.9) for i in range(3)))
    outputs = await run_flywheel(sessions)
    before = await dump(sessions, "proposals")

    later = T + timedelta(days=1)
    replay = await run_step(
        sessions, "store", {"draft": outputs["draft"]}, uuid.uuid4(), later
    )

    assert replay["skipped"] == [proposal_id(later, ["E-0", "E-1", "E-2"])]
    assert replay["proposals"] == []
    assert await dump(sessions, "proposals") == before


async def test_flywheel_embeds_in_batches_and_proposes_from_a_large_cluster(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """600 corrections span several embedding batches; 300 alike make one proposal."""
    alike = [correction(f"A-{i:03d}", EXPORT, 0.9) for i in range(300)]
    unrelated = [
        correction(f"U-{i:03d}", f"note w{i} w{i + 1000} w{i + 2000} w{i + 3000}", 0.9)
        for i in range(300)
    ]
    await insert(sessions, *alike, *unrelated)

    outputs = await run_flywheel(sessions)

    assert outputs["embed"]["embedded"] == 600
    assert outputs["cluster"]["singletons"] == 300
    (proposal,) = await proposals(sessions)
    assert proposal.correction_ids == [c.id for c in alike]
    assert "and 280 more" in proposal.rationale
    statuses = {c.id: c.status for c in (await corrections_by_id(sessions)).values()}
    assert {statuses[c.id] for c in alike} == {"processed"}
    assert {statuses[c.id] for c in unrelated} == {"unprocessed"}
