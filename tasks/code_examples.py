"""validate_polyglot_code: every code example of a rule must parse.

:func:`check_code_examples` reads the ``examples`` of every active rule (a JSON
list of ``{language, code}``) and checks each one with
:func:`tasks.code_parsers.check_example`. A rule with one or more failures gets
one ``invalid_example`` alert (warning) whose details list each failure: its
index in the list, its language, the parser's message, line and column, and
whether the language is one no parser knows. The open alerts of rules whose
examples all parse now are resolved.
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import task
from tasks.alert_sets import Finding, sync_alerts
from tasks.code_parsers import check_example

logger = logging.getLogger(__name__)

KIND = "invalid_example"
SEVERITY = "warning"
PAGE_SIZE = 500

_PAGE = text(
    """
    SELECT id, examples FROM rules
    WHERE status = 'active' AND jsonb_typeof(examples) = 'array'
      AND jsonb_array_length(examples) > 0 AND id > :after
    ORDER BY id LIMIT :limit
    """
)


def example_failures(examples: list[Any]) -> list[dict[str, Any]]:
    """One entry per example that does not parse, with its index and language."""
    failures = []
    for index, example in enumerate(examples):
        entry = example if isinstance(example, dict) else {}
        language = entry.get("language")
        problem = check_example(language, entry.get("code"))
        if problem is not None:
            failures.append({"index": index, "language": language, **problem.to_json()})

    return failures


@task()
async def check_code_examples(ctx: StepContext) -> dict[str, Any]:
    """Parse every example of every active rule; raise ``invalid_example`` alerts."""
    findings: list[Finding] = []
    checked = 0
    languages: Counter[str] = Counter()
    after = ""
    while True:
        rows = (
            await ctx.session.execute(_PAGE, {"after": after, "limit": PAGE_SIZE})
        ).all()
        if not rows:
            break
        for row in rows:
            checked += len(row.examples)
            failures = example_failures(row.examples)
            languages.update(str(f["language"]) for f in failures)
            if failures:
                details = {"examples": len(row.examples), "failures": failures}
                findings.append(Finding(row.id, details))
        after = rows[-1].id
    sync = await sync_alerts(
        ctx.session,
        kind=KIND,
        severity=SEVERITY,
        findings=findings,
        at=ctx.logical_time,
    )
    logger.info(
        "%d examples checked, %d rules with invalid ones",
        checked,
        len(findings),
        extra={"event": "examples.checked"},
    )

    return {
        "examples": checked,
        "rules_with_failures": len(findings),
        "failures_by_language": dict(sorted(languages.items())),
        **sync.to_json(),
    }
