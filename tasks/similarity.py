"""Scoring translations against their source with a cross-lingual embedder.

Shared by verify_translation_drift and validate_polyglot_equivalence: a
translation scores below :data:`SIMILARITY_THRESHOLD` when the cosine of its
embedding and its source's is below 0.75. Only an embedder whose
``cross_lingual`` is true can tell (see :class:`tasks.providers.Embedder`); with
any other, :func:`score_translation_similarity` scores nothing and says so.

Cosines are rounded to :data:`SCORE_DECIMALS` decimals before the comparison:
float32 embeddings carry about seven significant digits, so a cosine of exactly
0.75 may come out as 0.7499999; rounded, it is not below the threshold, while
0.7499 is.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.config import get_settings
from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.providers import Embedder, Providers, get_providers

logger = logging.getLogger(__name__)

SIMILARITY_THRESHOLD = 0.75
SCORE_DECIMALS = 6
PAGE_SIZE = 1000
EMBED_BATCH = 64


@dataclass(frozen=True)
class TranslationPair:
    """One translation of an active rule, with its source text and versions."""

    rule_id: str
    locale: str
    source_locale: str
    source: str
    translation: str
    source_version: int
    rule_version: int


_PAGE = text(
    """
    SELECT t.rule_id, t.locale, r.locale AS source_locale, r.text AS source,
           t.text AS translation, t.source_version, r.version AS rule_version
    FROM translations t JOIN rules r ON r.id = t.rule_id
    WHERE r.status = 'active' AND t.locale <> r.locale
      AND (t.rule_id, t.locale) > (:after_rule, :after_locale)
    ORDER BY t.rule_id, t.locale
    LIMIT :limit
    """
)


async def active_translation_pages(
    session: AsyncSession, page_size: int = PAGE_SIZE
) -> AsyncIterator[list[TranslationPair]]:
    """Every translation of an active rule (not in its own locale), page by page.

    Pages follow ``(rule_id, locale)`` order, so memory stays bounded however
    many translations there are.
    """
    after = ("", "")
    while True:
        rows = (
            await session.execute(
                _PAGE,
                {"after_rule": after[0], "after_locale": after[1], "limit": page_size},
            )
        ).all()
        if not rows:
            return
        yield [TranslationPair(**row._mapping) for row in rows]
        after = (rows[-1].rule_id, rows[-1].locale)


def providers_of(ctx: StepContext) -> Providers:
    """The worker's providers, or those ``LLM_PROVIDER`` names outside a worker."""
    providers = ctx.resources.get("providers")
    if isinstance(providers, Providers):
        return providers

    return get_providers(get_settings())


def is_below_threshold(score: float) -> bool:
    """Whether a similarity is below 0.75 once rounded (see the module docstring)."""
    return round(score, SCORE_DECIMALS) < SIMILARITY_THRESHOLD


async def score_pairs(
    embedder: Embedder, pairs: Sequence[TranslationPair]
) -> list[float]:
    """The cosine of each translation with its source, each distinct text embedded once."""
    texts = list(dict.fromkeys(t for p in pairs for t in (p.source, p.translation)))
    index = {t: i for i, t in enumerate(texts)}
    batches = [
        await embedder.embed(texts[start : start + EMBED_BATCH])
        for start in range(0, len(texts), EMBED_BATCH)
    ]
    if not batches:
        return []
    vectors = np.concatenate(batches).astype(np.float64)
    sources = vectors[[index[p.source] for p in pairs]]
    translations = vectors[[index[p.translation] for p in pairs]]
    cosines = np.einsum("ij,ij->i", sources, translations)

    return [float(c) for c in cosines]


def dissimilar_pairs(inputs: Mapping[str, Any]) -> dict[tuple[str, str], float]:
    """The ``below`` pairs of every predecessor output, by (rule, locale)."""
    below: dict[tuple[str, str], float] = {}
    for output in inputs.values():
        if isinstance(output, Mapping):
            for rule_id, locale, score in output.get("below", []):
                below[(str(rule_id), str(locale))] = float(score)

    return below


@task()
async def score_translation_similarity(ctx: StepContext) -> dict[str, Any]:
    """Score every active rule's translations against their source, if possible.

    Returns the pairs below 0.75 as ``[rule_id, locale, score]``; with an
    embedder that does not compare across languages it scores nothing. Those
    pairs travel in the step's output to the next step, so an embedder that
    scores most translations low makes an output as long as the translations.
    """
    embedder = providers_of(ctx).embedder
    if not embedder.cross_lingual:
        logger.info(
            "embedder %s does not compare across languages; similarity not checked",
            embedder.model,
            extra={"event": "similarity.skipped"},
        )
        return {
            "cross_lingual": False,
            "model": embedder.model,
            "scored": 0,
            "below": [],
        }
    scored, below = 0, []
    async for page in active_translation_pages(ctx.session):
        scores = await score_pairs(embedder, page)
        scored += len(page)
        below += [
            [pair.rule_id, pair.locale, round(score, SCORE_DECIMALS)]
            for pair, score in zip(page, scores, strict=True)
            if is_below_threshold(score)
        ]
    logger.info(
        "%d translations scored, %d below %.2f",
        scored,
        len(below),
        SIMILARITY_THRESHOLD,
        extra={"event": "similarity.scored"},
    )

    return {
        "cross_lingual": True,
        "model": embedder.model,
        "threshold": SIMILARITY_THRESHOLD,
        "scored": scored,
        "below": below,
    }
