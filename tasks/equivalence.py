"""validate_polyglot_equivalence: translations must carry their source's markers.

For each translation of an active rule, :func:`check_polyglot_equivalence`
compares the numbers, percentages, durations, placeholders, inline code, URLs
and rule references of the translation with those of the source text (see
:mod:`tasks.polyglot` for how each is read), and adds the pairs that the
preceding similarity step (:mod:`tasks.similarity`) scored below 0.75 when the
embedder compares across languages.

One ``polyglot_mismatch`` alert (warning) per rule and locale names what
differs; its details map each differing category to the values ``missing``
from and ``extra`` in the translation, e.g. ``{"numbers": {"missing": ["100"],
"extra": []}}``, plus ``similarity`` (score and threshold) when that check
failed. Every other open ``polyglot_mismatch`` alert is resolved.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.polyglot import compare_texts
from tasks.similarity import (
    SIMILARITY_THRESHOLD,
    active_translation_pages,
    dissimilar_pairs,
)

logger = logging.getLogger(__name__)

KIND = "polyglot_mismatch"
SEVERITY = "warning"


@task()
async def check_polyglot_equivalence(ctx: StepContext) -> dict[str, Any]:
    """Compare every active translation's markers with its source; raise alerts."""
    dissimilar = dissimilar_pairs(ctx.inputs)
    findings: list[Finding] = []
    pairs = 0
    categories: Counter[str] = Counter()
    async for page in active_translation_pages(ctx.session):
        for pair in page:
            pairs += 1
            details: dict[str, Any] = dict(
                compare_texts(
                    pair.source,
                    pair.translation,
                    source_locale=pair.source_locale,
                    translation_locale=pair.locale,
                )
            )
            score = dissimilar.get((pair.rule_id, pair.locale))
            if score is not None:
                details["similarity"] = {
                    "score": score,
                    "threshold": SIMILARITY_THRESHOLD,
                }
            if details:
                categories.update(list(details))
                findings.append(Finding(pair.rule_id, details, pair.locale))
    sync = await sync_alerts(
        ctx.session,
        kind=KIND,
        severity=SEVERITY,
        findings=findings,
        at=ctx.logical_time,
    )
    logger.info(
        "%d of %d translations differ from their source",
        len(findings),
        pairs,
        extra={"event": "polyglot.checked"},
    )

    return {
        "pairs": pairs,
        "mismatched": len(findings),
        "by_category": dict(sorted(categories.items())),
        **sync.to_json(),
    }
