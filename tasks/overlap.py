"""Which rules say nearly the same thing: exact set-similarity joins, pure.

Two rule texts overlap strongly when the Jaccard similarity of their sets of
word tokens (case-folded Unicode words, each counted once) is at least 0.6; two
patterns when they are identical once surrounding whitespace is trimmed.

:func:`similar_pairs` finds every pair across two collections of token sets at
or above a Jaccard threshold without comparing all pairs, by prefix filtering
(Chaudhuri et al., 2006; Bayardo et al., "Scaling up all pairs similarity
search", 2007): with the tokens of every set ordered from rarest to most
common, two sets with Jaccard ≥ t share at least one token among the first
``|x| - ceil(t·|x|) + 1`` of each. Candidates come from an index of those
prefixes, then a size filter (``t·|x| ≤ |y| ≤ |x|/t``) and an exact check with
integers, so the result is exactly that of comparing every pair.
"""

from __future__ import annotations

import math
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from fractions import Fraction

TEXT_JACCARD = Fraction(3, 5)

_WORD = re.compile(r"\w+")


def tokens(text: str) -> frozenset[str]:
    """The distinct case-folded word tokens of ``text``."""
    return frozenset(_WORD.findall(text.casefold()))


def normalise_pattern(pattern: str | None) -> str | None:
    """A pattern with surrounding whitespace trimmed; ``None`` when blank."""
    if pattern is None or not pattern.strip():
        return None
    return pattern.strip()


def jaccard(a: frozenset[str], b: frozenset[str]) -> Fraction:
    """Shared tokens over all tokens, exactly; 0 for two empty sets."""
    union = len(a | b)
    return Fraction(len(a & b), union) if union else Fraction(0)


def _prefix_length(size: int, threshold: Fraction) -> int:
    return size - math.ceil(threshold * size) + 1


def similar_pairs(
    left: Mapping[str, frozenset[str]],
    right: Mapping[str, frozenset[str]],
    threshold: Fraction = TEXT_JACCARD,
) -> list[tuple[str, str, Fraction]]:
    """Every ``(left id, right id, jaccard)`` with Jaccard ≥ ``threshold`` (> 0).

    Empty sets are similar to nothing. Pairs come sorted by ids.
    """
    if threshold <= 0:
        msg = f"the Jaccard threshold must be above 0, got {threshold}"
        raise ValueError(msg)
    frequency = Counter(t for sets in (left, right) for s in sets.values() for t in s)

    def ordered(items: Iterable[str]) -> list[str]:
        return sorted(items, key=lambda t: (frequency[t], t))

    index: dict[str, list[str]] = defaultdict(list)
    for right_id, right_set in right.items():
        for token in ordered(right_set)[: _prefix_length(len(right_set), threshold)]:
            index[token].append(right_id)
    pairs = []
    for left_id, left_set in left.items():
        if not left_set:
            continue
        size = len(left_set)
        candidates = {
            right_id
            for token in ordered(left_set)[: _prefix_length(size, threshold)]
            for right_id in index.get(token, ())
        }
        for right_id in candidates:
            other = len(right[right_id])
            if not threshold * size <= other <= size / threshold:
                continue
            similarity = jaccard(left_set, right[right_id])
            if similarity >= threshold:
                pairs.append((left_id, right_id, similarity))

    return sorted(pairs)
