"""Rule records: status, review state, lineage, translations and examples."""

from collections.abc import Sequence
from random import Random
from typing import Any

from tasks.sample.clock import DAY_S, iso
from tasks.sample.examples import draw_examples
from tasks.sample.plans import RulePlan, rule_age_days
from tasks.sample.translations import draw_translations
from tasks.sample.wording import render_text, render_title


def draw_rule_records(
    plans: Sequence[RulePlan], rng: Random, now_s: int
) -> list[dict[str, Any]]:
    """Write a record per plan; a few rules get a broken code example."""
    broken = {p.index for p in rng.sample(plans, max(2, round(0.025 * len(plans))))}
    return [_rule_record(p, rng, now_s, p.index in broken) for p in plans]


def _rule_record(
    plan: RulePlan, rng: Random, now_s: int, broken: bool
) -> dict[str, Any]:
    version = _version(plan, rng, now_s)
    interval_days, reviewed_s = _review(plan, rng, now_s)
    required, translations = draw_translations(plan, rng, version)
    deprecated_at = None if plan.deprecated_s is None else iso(plan.deprecated_s)
    return {
        "id": plan.rule_id,
        "title": render_title(plan),
        "text": render_text(plan, plan.locale, plan.slots, plan.extras),
        "locale": plan.locale,
        "version": version,
        "maturity": plan.maturity,
        "status": plan.status,
        "created_at": iso(plan.created_s),
        "deprecated_at": deprecated_at,
        "review_interval_days": interval_days,
        "last_reviewed_at": None if reviewed_s is None else iso(reviewed_s),
        "legal_hold": plan.legal_hold,
        "scope": plan.scope.name,
        "effect": "allow" if plan.twin_of else plan.template.effect,
        "pattern": plan.template.pattern if plan.has_pattern else None,
        "required_locales": required,
        "translations": translations,
        "derives_from": _derives_from(plan, rng),
        "examples": draw_examples(plan, rng, broken),
    }


def _version(plan: RulePlan, rng: Random, now_s: int) -> int:
    if plan.neglected:
        return rng.randint(2, 4)
    if rule_age_days(plan, now_s) < 30:
        return rng.choices((1, 2), (85, 15))[0]

    return rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]


def _review(plan: RulePlan, rng: Random, now_s: int) -> tuple[int, int | None]:
    """Pick a review interval and a last review: recent, due, or long overdue."""
    if plan.neglected:
        return 90, None
    interval = rng.choices((90, 180, 365), (3, 4, 3))[0]
    states = ("fresh", "due", "late", "very_late", "never")
    state = rng.choices(states, (62, 15, 10, 8, 5))[0]
    lag_days = {
        "fresh": rng.uniform(0.05, 0.9) * interval,
        "due": interval + rng.uniform(0, 29),
        "late": interval + rng.uniform(30, 59),
        "very_late": interval + rng.uniform(60, 400),
    }.get(state)
    if lag_days is None:
        return interval, None
    reviewed_s = now_s - int(lag_days * DAY_S)

    return interval, reviewed_s if reviewed_s > plan.created_s else None


def _derives_from(plan: RulePlan, rng: Random) -> list[str]:
    norms = plan.template.norms
    first = norms[0] if rng.random() < 0.75 else rng.choice(norms)
    parents = [first]
    rest = [n for n in norms if n != first]
    if rest and rng.random() < 0.35:
        parents.append(rng.choice(rest))
    if plan.parent is not None:
        parents.append(plan.parent.rule_id)

    return parents
