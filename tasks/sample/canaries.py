"""Canary inputs: stored inputs with the verdict a rule is expected to give."""

import re
from collections.abc import Sequence
from random import Random
from typing import Any

from tasks.sample.plans import RulePlan

_CANARY_PREFIXES = ("", "Ticket 4411: ", "Re: ", "From the QA queue: ", "Escalated: ")
"""Prefixes that vary how a template's inputs appear in a canary."""


def _rule_canaries(
    plan: RulePlan, drifting: bool, rng: Random
) -> list[tuple[str, str]]:
    """5 to 8 inputs with the verdict the local evaluator gives, some flipped if drifting."""
    template = plan.template
    count = rng.randint(5, 8)
    denials = rng.randint(2, min(4, count - 2))
    deny = [p + text for p in _CANARY_PREFIXES for text in template.deny_inputs]
    allow = [p + text for p in _CANARY_PREFIXES for text in template.allow_inputs]
    inputs = rng.sample(deny, denials) + rng.sample(allow, count - denials)
    expected = ["deny"] * denials + ["allow"] * (count - denials)
    if plan.has_pattern and template.pattern is not None:
        matcher = re.compile(template.pattern)
        expected = ["deny" if matcher.search(text) else "allow" for text in inputs]
    if drifting:
        for position in rng.sample(range(count), count // 3 + 1):
            expected[position] = "allow" if expected[position] == "deny" else "deny"
    pairs = list(zip(inputs, expected, strict=True))
    rng.shuffle(pairs)

    return pairs


def draw_canaries(plans: Sequence[RulePlan], rng: Random) -> list[dict[str, Any]]:
    """Canaries for most active rules with a pattern and for two without one."""
    active = [p for p in plans if p.status == "active"]
    with_pattern = [p for p in active if p.has_pattern]
    drifting = {p.index for p in rng.sample(with_pattern, min(len(with_pattern), 6))}
    unevaluable = {p.index for p in active if not p.has_pattern}
    unevaluable = set(sorted(unevaluable)[:2])

    pairs: list[tuple[str, str, str]] = []
    for plan in active:
        chosen = plan.index in drifting or plan.index in unevaluable
        if chosen or (plan.has_pattern and rng.random() < 0.92):
            canaries = _rule_canaries(plan, plan.index in drifting, rng)
            pairs += [(plan.rule_id, text, verdict) for text, verdict in canaries]

    return [
        {
            "id": f"cn-{n:05d}",
            "rule_id": rule_id,
            "input": text,
            "expected_verdict": verdict,
        }
        for n, (rule_id, text, verdict) in enumerate(pairs, start=1)
    ]
