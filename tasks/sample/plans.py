"""Rule plans: what the generator decides about each rule before writing it.

A plan fixes a rule's scope, template, age, status, usage archetype, lineage and
slot values; :mod:`tasks.sample.rules` then writes the record from it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from random import Random

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import (
    CURRENCIES,
    DAYS,
    EXCEPTION_DAYS,
    HOURS,
    PERCENTS,
    REGIONS,
    ROLES,
)
from tasks.sample.catalogue.scopes import SCOPES, TEMPLATES
from tasks.sample.clock import DAY_S


@dataclass
class RulePlan:
    """What the generator decided about one rule before writing it out."""

    index: int
    rule_id: str
    scope: Scope
    template: RuleTemplate
    created_s: int
    locale: str
    status: str = "active"
    deprecated_s: int | None = None
    archetype: str = "normal"
    maturity: str = "experimental"
    legal_hold: bool = False
    neglected: bool = False
    has_pattern: bool = True
    parent: RulePlan | None = None
    twin_of: RulePlan | None = None
    ctx: int = 0
    role: int = 0
    region: str | None = None
    extras: list[str] = field(default_factory=list)
    slots: dict[str, str] = field(default_factory=dict)


_ARCHETYPE_QUOTAS = (
    ("dormant", 0.04, 60),
    ("never_fires", 0.03, 35),
    ("high_deny", 0.03, 30),
    ("high_fp", 0.04, 30),
    ("ineffective", 0.01, 30),
    ("shifting", 0.025, 30),
    ("quiet", 0.06, 30),
    ("busy", 0.08, 30),
    ("pristine", 0.12, 30),
)
"""Share of all rules and minimum age in days of each usage archetype."""


def plan_rules(rng: Random, now_s: int, count: int) -> list[RulePlan]:
    """Plan ``count`` rules, oldest first, with their status, usage and lineage."""
    ages_s = sorted((_rule_age_s(rng) for _ in range(count)), reverse=True)
    by_scope = {s.name: [t for t in TEMPLATES if t.scope == s.name] for s in SCOPES}
    counters = dict.fromkeys(by_scope, 0)
    plans = []
    for index, age_s in enumerate(ages_s):
        scope = rng.choices(SCOPES, weights=[s.weight for s in SCOPES])[0]
        counters[scope.name] += 1
        rule_id = f"RR-{scope.code}-{counters[scope.name]:03d}"
        template = rng.choice(by_scope[scope.name])
        locale = rng.choices(("en", "de", "fr"), (80, 12, 8))[0]
        plans.append(RulePlan(index, rule_id, scope, template, now_s - age_s, locale))

    _retire(plans, rng, now_s)
    _assign_archetypes(plans, rng, now_s)
    _link(plans, rng)
    for plan in plans:
        _fill(plan, plans, rng, now_s)

    return plans


def _rule_age_s(rng: Random) -> int:
    days = rng.uniform(1, 29) if rng.random() < 0.07 else rng.uniform(30, 730)
    return int(days * DAY_S)


def _retire(plans: list[RulePlan], rng: Random, now_s: int) -> None:
    """Deprecate and archive some old rules, half of them long enough to archive."""
    old = [p for p in plans if rule_age_days(p, now_s) > 200]
    rng.shuffle(old)
    archived = max(2, round(0.01 * len(plans)))
    deprecated = max(4, round(0.07 * len(plans)))
    for position, plan in enumerate(old[: archived + deprecated]):
        long_ago = position < archived + deprecated // 2
        plan.status = "archived" if position < archived else "deprecated"
        if long_ago:
            plan.deprecated_s = rng.randrange(
                plan.created_s + 30 * DAY_S, now_s - 95 * DAY_S
            )
        else:
            plan.deprecated_s = rng.randrange(now_s - 85 * DAY_S, now_s - 2 * DAY_S)
        plan.archetype = "retired"
        plan.legal_hold = archived <= position < archived + 2


def _assign_archetypes(plans: list[RulePlan], rng: Random, now_s: int) -> None:
    active = [p for p in plans if p.status == "active"]
    for plan in active:
        if rule_age_days(plan, now_s) < 30:
            plan.archetype = "new"
    pool = [p for p in active if p.archetype == "normal"]
    rng.shuffle(pool)
    for name, share, min_age in _ARCHETYPE_QUOTAS:
        eligible = [p for p in pool if rule_age_days(p, now_s) >= min_age]
        for plan in eligible[: max(2, round(share * len(plans)))]:
            plan.archetype = name
        pool = [p for p in pool if p.archetype == "normal"]

    dormant = [p for p in active if p.archetype == "dormant"]
    for plan in dormant[: (len(dormant) + 1) // 2]:
        plan.neglected = rule_age_days(plan, now_s) > 200
    for plan in rng.sample(active, min(3, len(active))):
        plan.legal_hold = True


def _link(plans: list[RulePlan], rng: Random) -> None:
    """Derive some rules from earlier ones and make a few conflicting twins."""
    for child in rng.sample(plans, max(3, round(0.04 * len(plans)))):
        earlier = [p for p in plans[: child.index] if p.scope is child.scope]
        if earlier:
            child.parent = rng.choice(earlier)

    candidates = [p for p in plans if p.status == "active" and p.parent is None]
    twins = rng.sample(candidates, min(len(candidates), 5))
    for twin in twins:
        originals = [
            p
            for p in plans[: twin.index]
            if p.scope is twin.scope
            and p.status == "active"
            and p.template.effect == "deny"
            and p.template.pattern is not None
            and p not in twins
        ]
        if originals:
            twin.twin_of = rng.choice(originals)
            twin.template = twin.twin_of.template


def _fill(plan: RulePlan, plans: Sequence[RulePlan], rng: Random, now_s: int) -> None:
    template = plan.template
    plan.has_pattern = template.pattern is not None and (
        plan.twin_of is not None or rng.random() > 0.08
    )
    plan.maturity = _maturity(plan, rng, now_s)
    if plan.twin_of is None:
        plan.ctx = rng.randrange(len(plan.scope.contexts))
        plan.role = rng.randrange(len(ROLES))
        plan.region = rng.choice(REGIONS) if rng.random() < 0.5 else None
        plan.slots = _slots(plan, rng)
    else:
        original = plan.twin_of
        plan.ctx, plan.role, plan.region = original.ctx, original.role, original.region
        plan.slots = {**original.slots, "wiki": _wiki_url(plan)}
    plan.extras = _extras(plan, plans[: plan.index], rng)


def _maturity(plan: RulePlan, rng: Random, now_s: int) -> str:
    age_days = rule_age_days(plan, now_s)
    if age_days < 30:
        return "experimental"
    if plan.archetype in ("high_fp", "ineffective") and age_days >= 60:
        return rng.choice(("stable", "proven"))
    weights = (60, 40, 0) if age_days < 90 else (20, 45, 35)

    return rng.choices(("experimental", "stable", "proven"), weights)[0]


def _wiki_url(plan: RulePlan) -> str:
    return f"https://wiki.example.org/rules/{plan.rule_id.lower()}"


def _slots(plan: RulePlan, rng: Random) -> dict[str, str]:
    template = plan.template
    return {
        "n": str(rng.choice(template.numbers)),
        "amount": str(rng.choice(template.amounts)),
        "days": str(rng.choice(DAYS)),
        "hours": str(rng.choice(HOURS)),
        "pct": rng.choice(PERCENTS),
        "cur": rng.choice(CURRENCIES),
        "exc_days": str(rng.choice(EXCEPTION_DAYS)),
        "code": f"`{rng.choice(template.codes)}`" if template.codes else "",
        "url": f"https://policies.example.com/{plan.scope.name}/{template.key}",
        "wiki": _wiki_url(plan),
    }


def _extras(plan: RulePlan, earlier: Sequence[RulePlan], rng: Random) -> list[str]:
    """Pick the shared sentences a rule carries, with the rules they cite."""
    extras = []
    if plan.parent is not None:
        extras.append("refines")
        plan.slots["ref"] = plan.parent.rule_id
    if earlier and rng.random() < 0.12:
        extras.append("see_also")
        plan.slots["see"] = rng.choice(earlier).rule_id
    for name, chance in (("background", 0.3), ("notify", 0.15), ("exception", 0.25)):
        if rng.random() < chance:
            extras.append(name)

    return extras


def rule_age_days(plan: RulePlan, now_s: int) -> float:
    """How many days before ``now_s`` the planned rule was created."""
    return (now_s - plan.created_s) / DAY_S
