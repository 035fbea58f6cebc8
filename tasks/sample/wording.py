"""A rule's wording in one locale: its template and extra sentences, slots filled."""

from collections.abc import Sequence
from string import Template

from tasks.sample.catalogue.phrases import (
    EXTRAS,
    LOCALES,
    ROLES,
    TWIN_PREFIX,
    TWIN_TITLE,
)
from tasks.sample.plans import RulePlan


def render_text(
    plan: RulePlan, locale: str, slots: dict[str, str], extras: Sequence[str]
) -> str:
    """Write a rule's text in one locale from its slots and extra sentences."""
    li = LOCALES.index(locale)
    values = {
        **slots,
        "ctx": plan.scope.contexts[plan.ctx][li],
        "role": ROLES[plan.role][li],
    }
    parts = [Template(plan.template.text[li]).safe_substitute(values)]
    parts += [Template(EXTRAS[name][li]).safe_substitute(values) for name in extras]
    if plan.twin_of is not None:
        parts.insert(0, TWIN_PREFIX[li])

    return ("" if locale == "ja" else " ").join(parts)


def render_title(plan: RulePlan) -> str:
    """Write a rule's title in its source locale, with region and twin marks."""
    li = ("en", "de", "fr").index(plan.locale)
    title = Template(plan.template.title[li]).safe_substitute(
        {**plan.slots, "ctx": plan.scope.contexts[plan.ctx][LOCALES.index(plan.locale)]}
    )
    if plan.region is not None:
        title = f"{title} ({plan.region})"
    if plan.twin_of is not None:
        title = f"{TWIN_TITLE[li]}: {title}"

    return title
