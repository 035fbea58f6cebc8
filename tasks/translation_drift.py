"""verify_translation_drift: translations that no longer say what the source says.

A translation of an active rule has drifted (DESIGN §4) when

- ``source_version``: it was made from an older version of the source text
  (``translations.source_version`` < ``rules.version``); or
- ``similarity``: an embedder that compares across languages scores it below
  0.75 against the source (step ``score_translation_similarity`` of
  :mod:`tasks.similarity`, whose output this task reads).

:func:`flag_translation_drift` opens or updates one ``locale_drift`` alert
(warning) per drifted rule and locale, and resolves every other open one,
including those of rules that are no longer active. With an embedder that does
not compare across languages only versions are checked, so an alert raised for
similarity alone is resolved by such a run.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.similarity import SIMILARITY_THRESHOLD, dissimilar_pairs

logger = logging.getLogger(__name__)

KIND = "locale_drift"
SEVERITY = "warning"

_STALE = text(
    """
    SELECT t.rule_id, t.locale, t.source_version, r.version AS rule_version
    FROM translations t JOIN rules r ON r.id = t.rule_id
    WHERE r.status = 'active' AND t.locale <> r.locale
      AND t.source_version < r.version
    ORDER BY t.rule_id, t.locale
    """
)
_VERSIONS = text(
    """
    SELECT t.rule_id, t.locale, t.source_version, r.version AS rule_version
    FROM translations t JOIN rules r ON r.id = t.rule_id
    WHERE r.status = 'active'
      AND (t.rule_id, t.locale) IN (SELECT * FROM unnest(
          CAST(:rule_ids AS text[]), CAST(:locales AS text[])))
    """
)


@task()
async def flag_translation_drift(ctx: StepContext) -> dict[str, Any]:
    """Raise ``locale_drift`` for stale or dissimilar translations; resolve the rest."""
    details: dict[tuple[str, str], dict[str, Any]] = {}
    for row in await ctx.session.execute(_STALE):
        details[(row.rule_id, row.locale)] = {
            "reasons": ["source_version"],
            "source_version": row.source_version,
            "rule_version": row.rule_version,
        }
    dissimilar = dissimilar_pairs(ctx.inputs)
    versions = await ctx.session.execute(
        _VERSIONS,
        {
            "rule_ids": [rule_id for rule_id, _ in dissimilar],
            "locales": [locale for _, locale in dissimilar],
        },
    )
    for row in versions:
        entry = details.setdefault(
            (row.rule_id, row.locale),
            {
                "reasons": [],
                "source_version": row.source_version,
                "rule_version": row.rule_version,
            },
        )
        entry["reasons"].append("similarity")
        entry["similarity"] = dissimilar[(row.rule_id, row.locale)]
        entry["threshold"] = SIMILARITY_THRESHOLD
    findings = [
        Finding(rule_id=rule_id, locale=locale, details=entry)
        for (rule_id, locale), entry in sorted(details.items())
    ]
    sync = await sync_alerts(
        ctx.session,
        kind=KIND,
        severity=SEVERITY,
        findings=findings,
        at=ctx.logical_time,
    )
    reasons = [reason for f in findings for reason in f.details["reasons"]]

    return {
        "drifted": len(findings),
        "stale": reasons.count("source_version"),
        "dissimilar": reasons.count("similarity"),
        **sync.to_json(),
    }
