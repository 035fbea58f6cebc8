"""Human corrections: recurring themes that should cluster, and one-off noise."""

import re
from bisect import bisect_left
from collections.abc import Sequence
from random import Random
from typing import Any

from tasks.sample.activity import Activity
from tasks.sample.catalogue.themes import (
    ANALYSIS_TYPES,
    NOISE_CONTEXTS,
    NOISE_COUNT,
    NOISE_PROBLEMS,
    NOISE_SUBJECTS,
    THEMES,
    CorrectionTheme,
)
from tasks.sample.clock import CORRECTION_WINDOW_DAYS, DAY_S, iso, sample_time
from tasks.sample.plans import RulePlan


def _paraphrase(template: str, rng: Random) -> str:
    return re.sub(r"\{([^}]*)\}", lambda m: rng.choice(m.group(1).split("|")), template)


def _noise_summaries(rng: Random, count: int) -> list[str]:
    """One-off summaries; no two share more than one of their three phrases."""
    seen: set[tuple[int, int, int, int]] = set()
    summaries: list[str] = []
    while len(summaries) < count:
        a = rng.randrange(len(NOISE_SUBJECTS))
        b = rng.randrange(len(NOISE_PROBLEMS))
        c = rng.randrange(len(NOISE_CONTEXTS))
        pairs = {(0, a, 1, b), (0, a, 2, c), (1, b, 2, c)}
        if pairs & seen:
            continue
        seen |= pairs
        summaries.append(f"{NOISE_SUBJECTS[a]} {NOISE_PROBLEMS[b]} {NOISE_CONTEXTS[c]}")

    return summaries


def _correction_time(rng: Random, now_s: int, recent: bool) -> int:
    if recent:
        return sample_time(rng, now_s - CORRECTION_WINDOW_DAYS * DAY_S + 1, now_s)
    return sample_time(
        rng, now_s - 75 * DAY_S, now_s - CORRECTION_WINDOW_DAYS * DAY_S - 3600
    )


def _correction_status(rng: Random, recent: bool) -> str:
    weights = (88, 7, 5) if recent else (30, 50, 20)
    return rng.choices(("unprocessed", "processed", "triaged"), weights)[0]


def _correction_subject(
    plans: Sequence[RulePlan], activity: Activity, at_s: int, rng: Random
) -> tuple[str | None, str | None]:
    """Name the rule a correction is about and, often, the evaluation it corrects."""
    if not plans or rng.random() >= 0.75:
        return None, None
    plan = rng.choice(plans)
    times = activity.times_by_rule[plan.index]
    before = bisect_left(times, at_s)
    if before == 0 or rng.random() >= 0.6:
        return plan.rule_id, None
    chosen = rng.randrange(max(0, before - 200), before)

    return plan.rule_id, activity.ids_by_rule[plan.index][chosen]


def _correction(
    at_s: int,
    summary: str,
    analysis: str,
    status: str,
    confidence: float,
    subject: tuple[str | None, str | None],
) -> dict[str, Any]:
    """A correction record; its id is given once all are in time order."""
    return {
        "id": "",
        "rule_id": subject[0],
        "evaluation_id": subject[1],
        "analysis_type": analysis,
        "status": status,
        "delta_summary": summary,
        "confidence": round(confidence, 3),
        "created_at": iso(at_s),
    }


def _theme_corrections(
    theme: CorrectionTheme,
    rules: Sequence[RulePlan],
    activity: Activity,
    rng: Random,
    now_s: int,
) -> list[dict[str, Any]]:
    corrections = []
    for position in range(theme.recent + theme.older):
        recent = position < theme.recent
        at_s = _correction_time(rng, now_s, recent)
        analysis = theme.analysis_type
        if rng.random() > 0.85:
            analysis = rng.choice(ANALYSIS_TYPES)
        confidence = rng.betavariate(*theme.confidence)
        summary = _paraphrase(theme.template, rng)
        subject = _correction_subject(rules, activity, at_s, rng)
        status = _correction_status(rng, recent)
        corrections.append(
            _correction(at_s, summary, analysis, status, confidence, subject)
        )

    return corrections


def _noise_corrections(
    rules: Sequence[RulePlan], activity: Activity, rng: Random, now_s: int
) -> list[dict[str, Any]]:
    corrections = []
    for summary in _noise_summaries(rng, NOISE_COUNT):
        at_s = _correction_time(rng, now_s, recent=rng.random() < 0.75)
        status = _correction_status(rng, at_s >= now_s - CORRECTION_WINDOW_DAYS * DAY_S)
        confidence = rng.uniform(0.3, 0.95)
        subject = _correction_subject(rules, activity, at_s, rng)
        analysis = rng.choice(ANALYSIS_TYPES)
        corrections.append(
            _correction(at_s, summary, analysis, status, confidence, subject)
        )

    return corrections


def draw_corrections(
    plans: Sequence[RulePlan], activity: Activity, rng: Random, now_s: int
) -> list[dict[str, Any]]:
    """The themes' corrections and the noise, numbered in the order they were made."""
    active = [p for p in plans if p.status == "active"]
    corrections = []
    for theme in THEMES:
        in_scope = [p for p in active if p.scope.name == theme.scope]
        corrections += _theme_corrections(theme, in_scope, activity, rng, now_s)
    corrections += _noise_corrections(active, activity, rng, now_s)

    # Every timestamp has the same format and zone, so text order is time order.
    corrections.sort(key=lambda c: str(c["created_at"]))
    for number, correction in enumerate(corrections, start=1):
        correction["id"] = f"cr-{number:05d}"

    return corrections
