"""Set-similarity joins for conflicting rules: exact, and equal to all pairs."""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping
from fractions import Fraction
from types import SimpleNamespace

import pytest

from tasks.conflicts import scope_conflicts
from tasks.overlap import (
    TEXT_JACCARD,
    jaccard,
    normalise_pattern,
    similar_pairs,
    tokens,
)


def brute_force(
    left: Mapping[str, frozenset[str]],
    right: Mapping[str, frozenset[str]],
    threshold: Fraction,
) -> list[tuple[str, str, Fraction]]:
    return sorted(
        (a, b, jaccard(x, y))
        for (a, x), (b, y) in itertools.product(left.items(), right.items())
        if x and y and jaccard(x, y) >= threshold
    )


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [Fraction(3, 5), Fraction(1, 2), Fraction(9, 10)])
def test_similar_pairs_equals_comparing_every_pair(seed, threshold) -> None:
    """Prefix filtering finds exactly the pairs an all-pairs comparison finds."""
    rng = random.Random(seed)
    vocabulary = [f"w{i}" for i in range(12)]

    def draw(prefix: str) -> dict[str, frozenset[str]]:
        return {
            f"{prefix}{i}": frozenset(rng.sample(vocabulary, rng.randint(0, 6)))
            for i in range(60)
        }

    left, right = draw("d"), draw("a")

    assert similar_pairs(left, right, threshold) == brute_force(left, right, threshold)


def test_similar_pairs_includes_the_threshold_itself() -> None:
    """A Jaccard of exactly 0.6 is strong overlap; just under it is not."""
    left = {"d": frozenset("abc"), "e": frozenset("pqrstuvw")}
    right = {
        "exact": frozenset("abcde"),  # 3 / 5 with d
        "under": frozenset("pqrstuvwxyz012"),  # 8 / 14 with e
    }

    pairs = similar_pairs(left, right)

    assert pairs == [("d", "exact", Fraction(3, 5))]
    assert jaccard(left["e"], right["under"]) == Fraction(4, 7)


def test_similar_pairs_ignores_empty_sets_and_refuses_zero_threshold() -> None:
    """Empty token sets overlap with nothing; a zero threshold is an error."""
    assert similar_pairs({"d": frozenset()}, {"a": frozenset()}) == []
    with pytest.raises(ValueError, match="above 0"):
        similar_pairs({}, {}, Fraction(0))


def test_tokens_and_patterns_are_normalised() -> None:
    """Tokens are case-folded words; patterns are trimmed, blank ones None."""
    assert tokens("Deny EXPORT of e-mail, export!") == {
        "deny",
        "export",
        "of",
        "e",
        "mail",
    }
    assert normalise_pattern("  (?i)secret \n") == "(?i)secret"
    assert normalise_pattern("   ") is None
    assert normalise_pattern(None) is None


def rule(
    rule_id: str, effect: str, text: str, pattern: str | None = None
) -> SimpleNamespace:
    return SimpleNamespace(id=rule_id, effect=effect, text=text, pattern=pattern)


def test_scope_conflicts_pairs_opposite_effects_only() -> None:
    """Similar texts conflict across effects, never within one effect."""
    rules = [
        rule("R1", "deny", "exports of customer email lists to personal accounts"),
        rule("R2", "allow", "exports of customer email lists to personal accounts"),
        rule("R3", "deny", "exports of customer email lists to personal accounts"),
        rule("R4", "allow", "refunds above five hundred euros need approval"),
    ]

    findings = scope_conflicts("privacy", rules)

    assert [f.rule_id for f in findings] == ["R1|R2", "R2|R3"]
    assert findings[0].details["reasons"] == ["similar_text"]
    assert findings[0].details["effects"] == {"R1": "deny", "R2": "allow"}
    assert findings[0].details["text_jaccard"] == 1.0


def test_scope_conflicts_finds_identical_patterns_and_text_edges() -> None:
    """Same trimmed pattern conflicts; text Jaccard 0.6 does, 4/7 does not."""
    rules = [
        rule("A1", "allow", "alpha beta", pattern=" (?i)secret "),
        rule("D1", "deny", "gamma delta", pattern="(?i)secret"),
        rule("D2", "deny", "one two three"),
        rule("A2", "allow", "one two three four five"),
        rule("D3", "deny", "a b c d e f g h"),
        rule("A3", "allow", "a b c d e f g h i j k l m n"),
    ]

    findings = {f.rule_id: f.details for f in scope_conflicts("s", rules)}

    assert set(findings) == {"A1|D1", "A2|D2"}
    assert findings["A1|D1"]["reasons"] == ["same_pattern"]
    assert findings["A2|D2"]["text_jaccard"] == 0.6
    assert float(TEXT_JACCARD) == 0.6
