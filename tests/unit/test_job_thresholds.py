"""The maintenance jobs' decisions on each side of every threshold in DESIGN §4."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tasks.digest import idempotency_key
from tasks.health import (
    effectiveness_declined,
    health_findings,
    is_dormant,
    is_unhealthy,
)
from tasks.maturity import RuleRecord, maturity_change
from tasks.metrics import (
    deny_share,
    effectiveness,
    fp_rate,
    share_above,
    share_below,
)
from tasks.recommendations import RuleUsage, usage_advice
from tasks.reviews import review_alert_kinds
from tasks.windows import DAY

SECOND = timedelta(seconds=1)


def test_rates_default_when_nothing_was_counted() -> None:
    """No judgments: FP rate 0 and effectiveness 50; no evaluations: no deny share."""
    assert fp_rate(0, 0) == 0.0
    assert effectiveness(0, 0) == 50.0
    assert deny_share(0, 0) is None
    assert effectiveness(3, 10) == 30.0


@pytest.mark.parametrize(
    ("count", "total", "percent", "above", "below"),
    [
        (5, 10, 50, False, False),
        (51, 100, 50, True, False),
        (1, 20, 5, False, False),
        (1, 21, 5, False, True),
        (0, 20, 5, False, True),
        (1, 100, 1, False, False),
        (1, 101, 1, False, True),
        (1, 10, 10, False, False),
        (1, 9, 10, True, False),
        (0, 0, 5, False, True),
    ],
)
def test_shares_compare_exactly(
    count: int, total: int, percent: int, above: bool, below: bool
) -> None:
    """A share equal to its threshold is neither above nor below it."""
    assert share_above(count, total, percent) is above
    assert share_below(count, total, percent) is below


def test_unhealthy_below_forty() -> None:
    """An overall of 39.9 is unhealthy; 40 is not."""
    assert is_unhealthy(39.9)
    assert not is_unhealthy(40.0)


def test_dormant_without_evaluations() -> None:
    """Zero evaluations in 30 days is dormant; one is not."""
    assert is_dormant(0)
    assert not is_dormant(1)


@pytest.mark.parametrize(
    ("correct", "judgments", "declined"),
    [(2, 9, False), (2, 10, True), (3, 10, False), (29, 100, True)],
)
def test_effectiveness_decline_needs_ten_judgments(
    correct: int, judgments: int, declined: bool
) -> None:
    """Effectiveness under 30 alerts only with 10 or more judgments."""
    assert effectiveness_declined(correct, judgments) is declined


def test_health_findings_from_stored_rows() -> None:
    """Stored scores of 39.9 and 40 give one unhealthy finding, with its figures."""
    base = dict.fromkeys(
        ("activity", "accuracy", "effectiveness", "freshness", "stability"), 50.0
    )
    figures = {"evaluations_30d": 3, "judgments_90d": 0, "correct_90d": 0}
    rows = [
        {
            "rule_id": "LOW",
            "overall": 39.9,
            "coverage": 0.0,
            **base,
            "figures": figures,
        },
        {"rule_id": "OK", "overall": 40.0, "coverage": 0.0, **base, "figures": figures},
    ]

    found = health_findings(rows)

    assert [f.rule_id for f in found["unhealthy"]] == ["LOW"]
    assert found["unhealthy"][0].details["overall"] == 39.9
    assert found["dormant"] == found["effectiveness_decline"] == []


def record(
    maturity: str,
    age: timedelta = 100 * DAY,
    evaluations: int = 20,
    judgments: int = 0,
    false_positives: int = 0,
) -> RuleRecord:
    return RuleRecord("R", maturity, age, evaluations, judgments, false_positives)


def target(r: RuleRecord) -> str | None:
    change = maturity_change(r)
    return None if change is None else change.to_maturity


@pytest.mark.parametrize(
    ("r", "expected"),
    [
        (record("experimental", age=30 * DAY - SECOND), None),
        (record("experimental", age=30 * DAY), "stable"),
        (record("experimental", evaluations=19), None),
        (record("experimental", evaluations=20), "stable"),
        (record("experimental", judgments=20, false_positives=1), None),
        (record("experimental", judgments=21, false_positives=1), "stable"),
        (record("stable", age=60 * DAY - SECOND), None),
        (record("stable", age=60 * DAY, evaluations=0), "proven"),
        (record("stable", judgments=100, false_positives=1), None),
        (record("stable", judgments=101, false_positives=1), "proven"),
        (record("stable", judgments=10, false_positives=1), None),
        (record("stable", judgments=9, false_positives=1), "experimental"),
        (record("proven", judgments=10, false_positives=1), None),
        (record("proven", judgments=9, false_positives=1), "experimental"),
        (record("experimental", judgments=9, false_positives=1), None),
        (record("proven"), None),
    ],
)
def test_maturity_change_at_each_edge(r: RuleRecord, expected: str | None) -> None:
    """Promotion needs every condition met; demotion needs FP strictly above 10%."""
    assert target(r) == expected


def test_maturity_change_records_reason_and_figures() -> None:
    """A promotion names the figures it rests on."""
    change = maturity_change(record("experimental", age=30 * DAY))

    assert change is not None
    assert change.reason.startswith("age 30.00 days ≥ 30, 20 evaluations ≥ 20")
    assert change.figures == {
        "age_days": 30.0,
        "evaluations": 20,
        "judgments": 0,
        "false_positives": 0,
        "fp_rate": 0.0,
    }


def kinds(usage: RuleUsage) -> list[str]:
    return [a.kind for a in usage_advice(usage)]


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        (RuleUsage("R", 100, 50, 0, 0), []),
        (RuleUsage("R", 100, 51, 0, 0), ["high_deny_rate"]),
        (RuleUsage("R", 0, 0, 10, 1), []),
        (RuleUsage("R", 0, 0, 9, 1), ["high_false_positive_rate"]),
        (RuleUsage("R", 49, 0, 0, 0), []),
        (RuleUsage("R", 50, 0, 0, 0), ["never_fires"]),
        (RuleUsage("R", 50, 1, 0, 0), []),
        (RuleUsage("R", 0, 0, 0, 0), []),
    ],
)
def test_usage_advice_at_each_edge(usage: RuleUsage, expected: list[str]) -> None:
    """Deny share above 50%, FP above 10%, 50 evaluations without a deny."""
    assert kinds(usage) == expected


@pytest.mark.parametrize(
    ("overdue", "expected"),
    [
        (-SECOND, []),
        (timedelta(0), ["review_due"]),
        (29 * DAY, ["review_due"]),
        (30 * DAY - SECOND, ["review_due"]),
        (30 * DAY, ["review_due", "review_overdue_30"]),
        (59 * DAY, ["review_due", "review_overdue_30"]),
        (60 * DAY, ["review_due", "review_overdue_30", "review_overdue_60"]),
    ],
)
def test_review_alerts_escalate_at_each_edge(
    overdue: timedelta, expected: list[str]
) -> None:
    """Due at the due date; a warning from 30 days past it, critical from 60."""
    assert review_alert_kinds(overdue) == expected


def test_digest_idempotency_key_is_derived_from_t() -> None:
    """Every attempt for one week's digest uses one key, from T in UTC."""
    t = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    assert idempotency_key(t) == "digest-2026-03-02T09:00Z"
