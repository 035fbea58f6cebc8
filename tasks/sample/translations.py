"""Translations of a rule: current, stale or defective copies, or none at all."""

import re
from collections.abc import Sequence
from random import Random
from typing import Any

from tasks.sample.catalogue.phrases import (
    DAYS,
    EXCEPTION_DAYS,
    EXTRAS,
    HOURS,
    LOCALES,
    PERCENTS,
)
from tasks.sample.plans import RulePlan
from tasks.sample.wording import render_text

_TRANSLATION_STATES = ("current", "defective", "stale", "missing")


def draw_translations(
    plan: RulePlan, rng: Random, version: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Choose the required locales and write current, stale or defective copies."""
    others = [loc for loc in LOCALES if loc != plan.locale]
    size = rng.choices((0, 1, 2, 3, 4), (15, 25, 25, 15, 20))[0]
    targets = set(rng.sample(others, max(size, 2) if plan.neglected else size))
    with_source = rng.random() < 0.7
    required = [
        loc for loc in LOCALES if loc in targets or (with_source and loc == plan.locale)
    ]
    extra = rng.choice(others) if rng.random() < 0.05 else None

    translations = []
    for locale in (loc for loc in LOCALES if loc in targets or loc == extra):
        weights = (0, 0, 60, 40) if plan.neglected else (58, 9, 20, 13)
        state = rng.choices(_TRANSLATION_STATES, weights)[0]
        if locale not in targets or (state == "stale" and version == 1):
            state = "current" if not plan.neglected else "missing"
        if state == "missing":
            continue
        source_version = rng.randint(1, version - 1) if state == "stale" else version
        text = _translated_text(plan, locale, state, rng)
        translations.append(
            {"locale": locale, "text": text, "source_version": source_version}
        )

    return required, translations


def _numeric_choices(plan: RulePlan) -> dict[str, Sequence[object]]:
    """The numeric slots the rule's English text uses, with their other values."""
    choices: dict[str, Sequence[object]] = {
        "n": plan.template.numbers,
        "amount": plan.template.amounts,
        "days": DAYS,
        "hours": HOURS,
        "pct": PERCENTS,
        "exc_days": EXCEPTION_DAYS,
    }
    english = plan.template.text[0] + "".join(EXTRAS[e][0] for e in plan.extras)
    return {k: v for k, v in choices.items() if f"${k}" in english and len(v) > 1}


def _shift_number(plan: RulePlan, rng: Random) -> dict[str, str]:
    """Slots as an earlier version had them: one number differs."""
    choices = _numeric_choices(plan)
    if not choices:
        return plan.slots
    key = rng.choice(sorted(choices))
    other = rng.choice([str(v) for v in choices[key] if str(v) != plan.slots[key]])

    return {**plan.slots, key: other}


def _defects(plan: RulePlan) -> list[str]:
    text = render_text(plan, "en", plan.slots, plan.extras)
    candidates = {
        "number": bool(_numeric_choices(plan)),
        "placeholder": "{" in text,
        "code": "`" in text,
        "url": "https://" in text,
        "reference": "refines" in plan.extras or "see_also" in plan.extras,
    }
    return [name for name, present in candidates.items() if present]


def _translated_text(plan: RulePlan, locale: str, state: str, rng: Random) -> str:
    """Translate a rule; a stale or defective copy differs the way real ones do."""
    slots, extras = plan.slots, plan.extras
    defect = rng.choice(_defects(plan) or ["number"]) if state == "defective" else None
    if state == "stale" or defect == "number":
        slots = _shift_number(plan, rng)
    elif defect == "reference":
        extras = [e for e in extras if e not in ("refines", "see_also")]
    elif defect == "url":
        slots = {
            **slots,
            "url": slots["url"].replace(".com/", f".com/{locale}/"),
            "wiki": slots["wiki"].replace("/rules/", f"/{locale}/rules/"),
        }
    text = render_text(plan, locale, slots, extras)
    if defect == "code":
        return text.replace("`", "")
    if defect == "placeholder":
        return re.sub(r"\{(\w+)\}", r"\1", text, count=1)

    return text
