"""scan_conflicts: active rules of one scope with opposite effects that overlap.

Two active rules conflict when they share a ``scope``, one ``deny``s and the
other ``allow``s, and they overlap strongly (:mod:`tasks.overlap`):

- ``same_pattern``: both have a pattern and the patterns are identical once
  trimmed; or
- ``similar_text``: the Jaccard similarity of their texts' word-token sets is at
  least 0.6.

Token overlap rather than embeddings: it is exact, explainable in the alert
(the figure is shown), works in any language and does not depend on the
configured provider. The scan is set-based: one query finds the scopes that
have both effects, then each scope's rules are joined with prefix filtering,
never all pairs of the repository.

Each conflicting pair gets one ``rule_conflict`` alert (warning). Its subject is
the pair ``"<a>|<b>"`` with ``a < b``; its ``rule_id`` is ``a`` and its details
name both rules, their effects, the scope, the reasons and the Jaccard figure.
Open alerts of pairs that no longer conflict are resolved.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.overlap import (
    TEXT_JACCARD,
    jaccard,
    normalise_pattern,
    similar_pairs,
    tokens,
)

logger = logging.getLogger(__name__)

KIND = "rule_conflict"
SEVERITY = "warning"

_SCOPES = text(
    """
    SELECT scope FROM rules
    WHERE status = 'active' AND effect IN ('deny', 'allow')
    GROUP BY scope HAVING count(DISTINCT effect) = 2
    ORDER BY scope
    """
)
_RULES = text(
    """
    SELECT id, effect, text, pattern FROM rules
    WHERE status = 'active' AND scope = :scope AND effect IN ('deny', 'allow')
    ORDER BY id
    """
)
# Alerts about one rule take its id as subject (tasks.alerts.alert_subject); a
# pair has no such form, so its alert is raised with the pair as ``rule_id`` (and
# so as subject) and the column then set to the pair's first rule.
_FIRST_RULE = text(
    """
    UPDATE alerts SET rule_id = details -> 'rules' ->> 0
    WHERE kind = :kind AND rule_id = subject AND details -> 'rules' IS NOT NULL
    """
)


def scope_conflicts(scope: str, rules: Sequence[Any]) -> list[Finding]:
    """The conflicting deny/allow pairs among one scope's rules."""
    deny = {r.id: r for r in rules if r.effect == "deny"}
    allow = {r.id: r for r in rules if r.effect == "allow"}
    reasons: dict[tuple[str, str], list[str]] = {}
    by_pattern: dict[str, list[str]] = {}
    for rule in allow.values():
        pattern = normalise_pattern(rule.pattern)
        if pattern is not None:
            by_pattern.setdefault(pattern, []).append(rule.id)
    for rule in deny.values():
        for allow_id in by_pattern.get(normalise_pattern(rule.pattern) or "", []):
            reasons.setdefault((rule.id, allow_id), []).append("same_pattern")
    deny_tokens = {i: tokens(r.text) for i, r in deny.items()}
    allow_tokens = {i: tokens(r.text) for i, r in allow.items()}
    for deny_id, allow_id, _ in similar_pairs(deny_tokens, allow_tokens):
        reasons.setdefault((deny_id, allow_id), []).append("similar_text")

    return [
        _finding(scope, deny_id, allow_id, why, deny_tokens, allow_tokens)
        for (deny_id, allow_id), why in sorted(reasons.items())
    ]


def _finding(
    scope: str,
    deny_id: str,
    allow_id: str,
    reasons: list[str],
    deny_tokens: dict[str, frozenset[str]],
    allow_tokens: dict[str, frozenset[str]],
) -> Finding:
    first, second = sorted((deny_id, allow_id))
    similarity = jaccard(deny_tokens[deny_id], allow_tokens[allow_id])
    details = {
        "rules": [first, second],
        "effects": {deny_id: "deny", allow_id: "allow"},
        "scope": scope,
        "reasons": reasons,
        "text_jaccard": round(float(similarity), 4),
        "text_jaccard_threshold": float(TEXT_JACCARD),
    }

    return Finding(f"{first}|{second}", details)


async def find_conflicts(session: AsyncSession) -> tuple[int, list[Finding]]:
    """Scopes with both effects, and every conflicting pair in them."""
    scopes = list(await session.scalars(_SCOPES))
    findings: list[Finding] = []
    for scope in scopes:
        rules = (await session.execute(_RULES, {"scope": scope})).all()
        findings += scope_conflicts(scope, rules)

    return len(scopes), findings


@task()
async def scan_conflicts(ctx: StepContext) -> dict[str, Any]:
    """Raise ``rule_conflict`` for each conflicting pair; resolve the others."""
    scopes, findings = await find_conflicts(ctx.session)
    sync = await sync_alerts(
        ctx.session,
        kind=KIND,
        severity=SEVERITY,
        findings=findings,
        at=ctx.logical_time,
    )
    await ctx.session.execute(_FIRST_RULE, {"kind": KIND})
    logger.info(
        "%d conflicting pairs in %d scopes",
        len(findings),
        scopes,
        extra={"event": "conflicts.scanned"},
    )

    return {
        "scopes": scopes,
        "conflicts": len(findings),
        "pairs": [f.rule_id for f in findings][:100],
        **sync.to_json(),
    }
