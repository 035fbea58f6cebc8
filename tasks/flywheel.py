"""The flywheel: repeated human corrections become proposed rules (DESIGN §4).

Five tasks, chained fetch → embed → cluster → draft → store. They work on the
corrections that are ``unprocessed`` and were created in the 14 days before the
run's logical time T, the interval [T - 14 x 24 h, T). That set is a pure
function of T and the table, so each step selects it again rather than passing
up to 50,000 ids from step to step; outputs stay small (counts, figures, and the
ids of the clusters that matter). A correction added to the window while a run
is under way is clustered only if the embed step saw it; otherwise it stays
unprocessed for a later run.

Idempotency: embeddings are keyed by (correction, model); a proposal's id is a
hash of T and its sorted correction ids, inserted with ON CONFLICT DO NOTHING;
only ``unprocessed`` corrections are marked processed. Re-running the store step
or the whole slot therefore adds nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, String, and_, any_, func, literal, select, update
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.config import get_settings
from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.clustering import connected_clusters, mean_pairwise_similarity
from tasks.providers import ClusterSummary, Providers, get_providers
from tasks.schema import Correction, CorrectionEmbedding, Proposal

logger = logging.getLogger(__name__)

WINDOW = timedelta(days=14)
SIMILARITY_THRESHOLD = 0.8
MIN_CLUSTER_SIZE = 3
# Compared as decimals: see :func:`mean_confidence`.
MIN_MEAN_CONFIDENCE = Decimal("0.8")
EMBED_BATCH = 256
DRAFT_SAMPLE = 20

UNPROCESSED = "unprocessed"
PROCESSED = "processed"


def correction_window(logical_time: datetime) -> tuple[datetime, datetime]:
    """The 14 days before ``logical_time``: ``[T - 14 x 24 h, T)``."""
    return logical_time - WINDOW, logical_time


def mean_confidence(confidences: Sequence[float]) -> Decimal:
    """The exact mean of ``confidences``, each read as the decimal it was written as.

    A stored 0.8 is the binary double nearest 0.8; its shortest ``repr`` gives
    back ``0.8``. Summing those decimals makes a mean of exactly 0.8 compare
    equal to 0.8, so it never qualifies as "> 0.8" by a rounding accident.
    """
    total = sum((Decimal(repr(float(c))) for c in confidences), Decimal(0))

    return total / len(confidences)


def proposal_id(logical_time: datetime, correction_ids: Sequence[str]) -> str:
    """``P-`` and 20 hex digits of SHA-256 over T and the sorted correction ids."""
    key = "\n".join([logical_time.astimezone(UTC).isoformat(), *sorted(correction_ids)])

    return "P-" + hashlib.sha256(key.encode()).hexdigest()[:20]


def _providers(ctx: StepContext) -> Providers:
    providers = ctx.resources.get("providers")
    if isinstance(providers, Providers):
        return providers

    return get_providers(get_settings())


def _pending(logical_time: datetime) -> list[ColumnElement[bool]]:
    start, end = correction_window(logical_time)

    return [
        Correction.status == UNPROCESSED,
        Correction.created_at >= start,
        Correction.created_at < end,
    ]


def _id_in(ids: Sequence[str]) -> ColumnElement[bool]:
    """``id = ANY(:ids)`` with one array parameter, however many ids there are."""
    return Correction.id == any_(literal(list(ids), ARRAY(String)))


@task()
async def fetch_corrections(ctx: StepContext) -> dict[str, Any]:
    """Count the unprocessed corrections created in the 14 days before T."""
    start, end = correction_window(ctx.logical_time)
    count = await ctx.session.scalar(
        select(func.count()).select_from(Correction).where(*_pending(ctx.logical_time))
    )
    logger.info(
        "%d unprocessed corrections in the window",
        count,
        extra={"event": "flywheel.fetched"},
    )

    return {
        "window_start": start.isoformat(),
        "window_end": end.isoformat(),
        "corrections": count or 0,
    }


@task()
async def embed_corrections(ctx: StepContext) -> dict[str, Any]:
    """Embed the window's corrections that have no embedding for the model yet."""
    embedder = _providers(ctx).embedder
    model = embedder.model
    missing = (
        select(Correction.id, Correction.delta_summary)
        .outerjoin(
            CorrectionEmbedding,
            and_(
                CorrectionEmbedding.correction_id == Correction.id,
                CorrectionEmbedding.model == model,
            ),
        )
        .where(*_pending(ctx.logical_time), CorrectionEmbedding.correction_id.is_(None))
        .order_by(Correction.id)
        .limit(EMBED_BATCH)
    )
    embedded, after = 0, None
    while True:
        page = missing if after is None else missing.where(Correction.id > after)
        rows = (await ctx.session.execute(page)).all()
        if not rows:
            break
        vectors = await embedder.embed([row.delta_summary for row in rows])
        await _store_embeddings(ctx.session, model, [row.id for row in rows], vectors)
        embedded, after = embedded + len(rows), rows[-1].id

    total = await ctx.session.scalar(
        select(func.count())
        .select_from(Correction)
        .join(CorrectionEmbedding, CorrectionEmbedding.correction_id == Correction.id)
        .where(*_pending(ctx.logical_time), CorrectionEmbedding.model == model)
    )
    logger.info(
        "embedded %d corrections with %s",
        embedded,
        model,
        extra={"event": "flywheel.embedded"},
    )

    return {"model": model, "embedded": embedded, "cached": (total or 0) - embedded}


async def _store_embeddings(
    session: AsyncSession,
    model: str,
    ids: Sequence[str],
    vectors: npt.NDArray[np.float32],
) -> None:
    if vectors.shape[0] != len(ids):
        msg = (
            f"embedder {model} returned {vectors.shape[0]} vectors for {len(ids)} texts"
        )
        raise ValueError(msg)
    little_endian = vectors.astype("<f4", copy=False)
    values = [
        {
            "correction_id": cid,
            "model": model,
            "dim": vec.shape[0],
            "vector": vec.tobytes(),
        }
        for cid, vec in zip(ids, little_endian, strict=True)
    ]
    await session.execute(
        pg_insert(CorrectionEmbedding).values(values).on_conflict_do_nothing()
    )


@task()
async def cluster_corrections(ctx: StepContext) -> dict[str, Any]:
    """Group the window's embedded corrections into components at cosine ≥ 0.8.

    Only clusters of three or more are output, with their ids and figures; the
    others are counted.
    """
    model = ctx.inputs.get("embed", {}).get("model") or _providers(ctx).embedder.model
    ids, confidences, matrix = await _load_embeddings(
        ctx.session, ctx.logical_time, model
    )
    groups = await asyncio.to_thread(connected_clusters, matrix, SIMILARITY_THRESHOLD)
    clusters = [
        {
            "correction_ids": [ids[i] for i in group],
            "size": len(group),
            "mean_confidence": float(mean_confidence([confidences[i] for i in group])),
            "mean_similarity": round(mean_pairwise_similarity(matrix[group]), 6),
        }
        for group in groups
        if len(group) >= MIN_CLUSTER_SIZE
    ]
    logger.info(
        "%d corrections form %d components, %d of %d or more",
        len(ids),
        len(groups),
        len(clusters),
        MIN_CLUSTER_SIZE,
        extra={"event": "flywheel.clustered"},
    )

    return {
        "model": model,
        "corrections": len(ids),
        "components": len(groups),
        "singletons": sum(1 for group in groups if len(group) == 1),
        "largest": max((len(group) for group in groups), default=0),
        "clusters": clusters,
    }


async def _load_embeddings(
    session: AsyncSession, logical_time: datetime, model: str
) -> tuple[list[str], list[float], npt.NDArray[np.float32]]:
    rows = (
        await session.execute(
            select(
                Correction.id,
                Correction.confidence,
                CorrectionEmbedding.dim,
                CorrectionEmbedding.vector,
            )
            .join(
                CorrectionEmbedding, CorrectionEmbedding.correction_id == Correction.id
            )
            .where(*_pending(logical_time), CorrectionEmbedding.model == model)
            .order_by(Correction.id)
        )
    ).all()
    dims = {row.dim for row in rows}
    if len(dims) > 1:
        msg = (
            f"embeddings of model {model} have several dimensions ({sorted(dims)}); "
            f"delete that model's rows from correction_embeddings to recompute them"
        )
        raise ValueError(msg)
    dim = dims.pop() if dims else 0
    raw = np.frombuffer(b"".join(row.vector for row in rows), dtype="<f4")
    matrix = raw.reshape(len(rows), dim).astype(np.float32)
    # Dot products are read as cosines, so rows are made unit length here
    # whatever a provider stored; zero rows stay zero and join nothing.
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    np.divide(matrix, norms, out=matrix, where=norms > 0)

    return [row.id for row in rows], [row.confidence for row in rows], matrix


@task()
async def draft_proposals(ctx: StepContext) -> dict[str, Any]:
    """Draft a rule for each cluster of 3 or more with mean confidence > 0.8."""
    drafter = _providers(ctx).drafter
    clusters = ctx.inputs.get("cluster", {}).get("clusters", [])
    drafts: list[dict[str, Any]] = []
    for cluster in clusters:
        summary = await _summarise(ctx.session, cluster)
        if summary is None:
            continue
        draft = await drafter.draft(summary)
        figures = {
            "size": summary.size,
            "mean_confidence": summary.mean_confidence,
            "mean_similarity": summary.mean_similarity,
            "model": ctx.inputs["cluster"].get("model"),
        }
        drafts.append(
            {
                "correction_ids": list(summary.correction_ids),
                "title": draft.title,
                "text": draft.text,
                "rationale": draft.rationale,
                "figures": figures,
            }
        )
    logger.info(
        "drafted %d rules from %d clusters",
        len(drafts),
        len(clusters),
        extra={"event": "flywheel.drafted"},
    )

    return {"clusters": len(clusters), "drafts": drafts}


async def _summarise(
    session: AsyncSession, cluster: dict[str, Any]
) -> ClusterSummary | None:
    """The drafter's view of a cluster, or None if it does not qualify."""
    ids = sorted(cluster["correction_ids"])
    if len(ids) < MIN_CLUSTER_SIZE:
        return None
    rows = (
        await session.execute(
            select(
                Correction.id,
                Correction.delta_summary,
                Correction.confidence,
                Correction.rule_id,
                Correction.analysis_type,
            ).where(_id_in(ids))
        )
    ).all()
    if len(rows) < MIN_CLUSTER_SIZE:
        return None
    mean = mean_confidence([row.confidence for row in rows])
    if not mean > MIN_MEAN_CONFIDENCE:
        return None
    sample = sorted(rows, key=lambda row: (-row.confidence, row.id))[:DRAFT_SAMPLE]

    return ClusterSummary(
        correction_ids=tuple(ids),
        summaries=tuple(row.delta_summary for row in sample),
        mean_confidence=float(mean),
        mean_similarity=float(cluster["mean_similarity"]),
        rule_ids=tuple(sorted({row.rule_id for row in rows if row.rule_id})),
        analysis_types=tuple(sorted({row.analysis_type for row in rows})),
    )


@task()
async def store_proposals(ctx: StepContext) -> dict[str, Any]:
    """Store each draft as a pending proposal and mark its corrections processed.

    A draft whose corrections were meanwhile claimed by another proposal (a
    step re-run after a later run) is skipped, so no correction ends up in two
    proposals.
    """
    drafts = ctx.inputs.get("draft", {}).get("drafts", [])
    stored: list[str] = []
    skipped: list[str] = []
    created = processed = 0
    for draft in sorted(
        drafts, key=lambda d: proposal_id(ctx.logical_time, d["correction_ids"])
    ):
        pid = proposal_id(ctx.logical_time, draft["correction_ids"])
        if not await _claimable(ctx.session, pid, draft["correction_ids"]):
            skipped.append(pid)
            continue
        created += await _insert_proposal(ctx, pid, draft)
        processed += await _mark_processed(ctx, pid, draft["correction_ids"])
        stored.append(pid)
    logger.info(
        "stored %d proposals (%d new), %d corrections processed, %d drafts skipped",
        len(stored),
        created,
        processed,
        len(skipped),
        extra={"event": "flywheel.stored"},
    )

    return {
        "proposals": stored,
        "created": created,
        "corrections_processed": processed,
        "skipped": skipped,
    }


async def _claimable(session: AsyncSession, pid: str, ids: Sequence[str]) -> bool:
    """Whether every correction exists and is unprocessed or already ``pid``'s."""
    rows = (
        await session.execute(
            select(Correction.id, Correction.status, Correction.proposal_id)
            .where(_id_in(ids))
            .order_by(Correction.id)
            .with_for_update()
        )
    ).all()
    taken = [
        row.id for row in rows if row.status != UNPROCESSED and row.proposal_id != pid
    ]
    if len(rows) == len(set(ids)) and not taken:
        return True
    logger.warning(
        "proposal %s skipped: %d of its %d corrections are gone or processed elsewhere",
        pid,
        len(set(ids)) - len(rows) + len(taken),
        len(set(ids)),
        extra={"event": "flywheel.draft_skipped"},
    )

    return False


async def _insert_proposal(ctx: StepContext, pid: str, draft: dict[str, Any]) -> int:
    result = await ctx.session.execute(
        pg_insert(Proposal)
        .values(
            id=pid,
            status="pending",
            title=draft["title"],
            text=draft["text"],
            rationale=draft["rationale"],
            correction_ids=sorted(draft["correction_ids"]),
            figures=draft["figures"],
            logical_time=ctx.logical_time,
            run_id=str(ctx.run_id),
        )
        .on_conflict_do_nothing(index_elements=[Proposal.id])
        .returning(Proposal.id)
    )

    return len(result.all())


async def _mark_processed(ctx: StepContext, pid: str, ids: Sequence[str]) -> int:
    result = await ctx.session.execute(
        update(Correction)
        .where(_id_in(ids), Correction.status == UNPROCESSED)
        .values(status=PROCESSED, processed_at=ctx.logical_time, proposal_id=pid)
        .returning(Correction.id)
    )

    return len(result.all())
