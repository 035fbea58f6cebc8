"""Evaluations and judgments: each rule's usage over the window, drawn by archetype."""

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise
from random import Random
from typing import Any

from tasks.sample.clock import DAY_S, WINDOW_DAYS, iso, sample_time
from tasks.sample.plans import RulePlan


@dataclass(frozen=True)
class _Profile:
    """How an archetype's rules are used, as ranges to draw each rule's figures from.

    ``volume`` counts evaluations over a full 90-day window, ``deny`` is the deny
    share, ``fp`` and ``fn`` the chances that a judged deny or allow is wrong, and
    ``judge`` the chances that a deny and an allow are judged at all.
    """

    volume: tuple[int, int]
    deny: tuple[float, float]
    fp: tuple[float, float]
    fn: tuple[float, float]
    judge: tuple[float, float]


_NORMAL = _Profile((60, 450), (0.03, 0.35), (0.02, 0.1), (0.0, 0.06), (0.35, 0.08))
_PROFILES = {
    "new": _Profile((180, 1080), (0.05, 0.3), (0.0, 0.08), (0.0, 0.05), (0.35, 0.08)),
    "busy": _Profile((800, 2200), (0.05, 0.3), (0.01, 0.06), (0.0, 0.05), (0.3, 0.06)),
    "normal": _NORMAL,
    "retired": _NORMAL,
    "pristine": _Profile((40, 300), (0.05, 0.3), (0.0, 0.0), (0.0, 0.03), (0.35, 0.08)),
    "quiet": _Profile((4, 18), (0.0, 0.3), (0.0, 0.1), (0.0, 0.1), (0.3, 0.1)),
    "dormant": _Profile((30, 160), (0.05, 0.3), (0.0, 0.05), (0.0, 0.05), (0.2, 0.05)),
    "never_fires": _Profile(
        (240, 480), (0.0, 0.0), (0.0, 0.0), (0.0, 0.08), (0.0, 0.08)
    ),
    "high_deny": _Profile(
        (150, 600), (0.55, 0.85), (0.02, 0.1), (0.0, 0.05), (0.3, 0.08)
    ),
    "high_fp": _Profile((100, 500), (0.2, 0.4), (0.35, 0.6), (0.05, 0.15), (0.5, 0.08)),
    "ineffective": _Profile((150, 400), (0.6, 0.7), (0.8, 0.9), (0.4, 0.6), (0.5, 0.1)),
    "shifting": _Profile(
        (300, 900), (0.05, 0.12), (0.0, 0.06), (0.0, 0.05), (0.3, 0.06)
    ),
}


@dataclass(frozen=True)
class _Usage:
    """One rule's drawn figures; ``deny_recent`` applies to the last 7 days."""

    volume: int
    deny: float
    deny_recent: float
    fp: float
    fn: float
    judge_deny: float
    judge_allow: float


def _usage(plan: RulePlan, rng: Random) -> _Usage:
    profile = _PROFILES[plan.archetype]
    deny = rng.uniform(*profile.deny)
    deny_recent = deny
    if plan.archetype == "shifting":
        deny_recent = rng.uniform(0.45, 0.65)
        if rng.random() < 0.5:
            deny, deny_recent = deny_recent, deny
    judge = (0.0, 0.0) if plan.neglected else profile.judge

    return _Usage(
        rng.randint(*profile.volume),
        deny,
        deny_recent,
        rng.uniform(*profile.fp),
        rng.uniform(*profile.fn),
        *judge,
    )


def _rule_evaluations(
    plan: RulePlan, usage: _Usage, rng: Random, now_s: int
) -> list[tuple[int, bool]]:
    """Draw a rule's evaluations as (second, denied), between its creation and end."""
    start_s = max(now_s - WINDOW_DAYS * DAY_S + 1, plan.created_s + 3600)
    end_s = now_s if plan.deprecated_s is None else min(now_s, plan.deprecated_s)
    if plan.archetype == "dormant":
        end_s = min(end_s, now_s - 31 * DAY_S - rng.randrange(20 * DAY_S))
    if end_s - start_s < 3600:
        return []
    recent_s = now_s - 7 * DAY_S
    cuts = {start_s, end_s} | {
        c for c in (now_s - 30 * DAY_S, recent_s) if start_s < c < end_s
    }
    bounds = sorted(cuts)

    drawn = []
    for a, b in pairwise(bounds):
        count = round(usage.volume * (b - a) / (WINDOW_DAYS * DAY_S))
        deny = usage.deny_recent if a >= recent_s else usage.deny
        drawn += [(sample_time(rng, a, b), rng.random() < deny) for _ in range(count)]

    return drawn


@dataclass
class Activity:
    """Every evaluation and judgment, and each rule's evaluations in time order."""

    evaluations: list[dict[str, Any]]
    judgments: list[dict[str, Any]]
    times_by_rule: list[list[int]]
    ids_by_rule: list[list[str]]


def draw_activity(plans: Sequence[RulePlan], rng: Random, now_s: int) -> Activity:
    """Draw every evaluation and judgment, numbered in the order they happened."""
    usages = [_usage(p, rng) for p in plans]
    rows = [
        (at_s, plan.index, denied)
        for plan, usage in zip(plans, usages, strict=True)
        for at_s, denied in _rule_evaluations(plan, usage, rng, now_s)
    ]
    rows.sort()
    activity = Activity([], [], [[] for _ in plans], [[] for _ in plans])
    judged: list[tuple[int, str, str]] = []
    for number, (at_s, index, denied) in enumerate(rows, start=1):
        evaluation_id = f"ev-{number:07d}"
        activity.evaluations.append(
            {
                "id": evaluation_id,
                "rule_id": plans[index].rule_id,
                "verdict": "deny" if denied else "allow",
                "created_at": iso(at_s),
            }
        )
        activity.times_by_rule[index].append(at_s)
        activity.ids_by_rule[index].append(evaluation_id)
        judged += _judge(usages[index], at_s, evaluation_id, denied, rng, now_s)

    judged.sort()
    activity.judgments = [
        {
            "id": f"jd-{n:06d}",
            "evaluation_id": ev,
            "outcome": outcome,
            "created_at": iso(at_s),
        }
        for n, (at_s, ev, outcome) in enumerate(judged, start=1)
    ]
    return activity


def _judge(
    usage: _Usage, at_s: int, evaluation_id: str, denied: bool, rng: Random, now_s: int
) -> list[tuple[int, str, str]]:
    """Maybe review one evaluation some hours later; nothing if not yet reviewed."""
    if rng.random() >= (usage.judge_deny if denied else usage.judge_allow):
        return []
    judged_s = at_s + 300 + int(rng.expovariate(1 / (20 * 3600)))
    if judged_s >= now_s:
        return []
    wrong = rng.random() < (usage.fp if denied else usage.fn)
    outcome = ("false_positive" if denied else "false_negative") if wrong else "correct"

    return [(judged_s, evaluation_id, outcome)]
