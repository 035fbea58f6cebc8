"""The ``local`` providers: offline, deterministic, no model weights.

They let every job run on a machine without network access, and give tests
stable answers. They are simple on purpose; see each class for its limits.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import numpy.typing as npt

from tasks.providers.base import (
    ClusterSummary,
    Drafter,
    DraftRule,
    Embedder,
    EvalResult,
    Evaluator,
    Providers,
    RuleText,
)

_WORD = re.compile(r"\w+")

# English function words left out of a cluster's common terms. The embedding
# keeps them: it has no notion of language.
_STOPWORDS = frozenset(
    "a about after all also an and any are as at be been before but by can could "
    "do does for from had has have if in into is it its may more must no not of "
    "on only or other our should so such than that the their them then there "
    "these they this those to too under up was were what when where which while "
    "who will with would you your".split()
)


def words(text: str) -> list[str]:
    """The case-folded word tokens of ``text`` (Unicode letters and digits)."""
    return _WORD.findall(text.casefold())


@functools.lru_cache(maxsize=1 << 16)
def _slot(feature: str, dim: int) -> tuple[int, float]:
    """The index and sign a feature hashes to; stable across processes."""
    digest = hashlib.blake2b(feature.encode(), digest_size=8, person=b"rulerepo-emb")
    value = int.from_bytes(digest.digest(), "big")

    return value % dim, 1.0 if value >> 63 else -1.0


class HashingEmbedder(Embedder):
    """Feature-hashed bag of word unigrams and bigrams, sublinear tf, unit length.

    Each text is case-folded and split into word tokens; every token and every
    pair of adjacent tokens is hashed (BLAKE2b, so the same on every machine)
    to one of ``dim`` slots with a sign, weighted ``1 + ln(count)``, and the
    vector is scaled to unit length.

    Limits: the similarity is lexical only. Paraphrases that share no words look
    unrelated, and it does not compare across languages (a text and its
    translation share almost no tokens). Word order counts only through bigrams.
    Distinct features may collide in one slot, which adds a little noise to
    every cosine (about ``1 / dim`` per shared slot). A text without any word
    character embeds to the zero vector, which is similar to nothing.
    """

    def __init__(self, dim: int = 512) -> None:
        if dim < 16:
            msg = f"the hashing embedder needs at least 16 dimensions, got {dim}"
            raise ValueError(msg)
        self.dim = dim

    @property
    def model(self) -> str:
        return f"local-hashed-ngrams-v1-{self.dim}"

    @property
    def cross_lingual(self) -> bool:
        """False: a text and its translation share almost no tokens."""
        return False

    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        vectors = np.zeros((len(texts), self.dim), dtype=np.float64)
        for row, text in enumerate(texts):
            self._fill(vectors[row], text)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        np.divide(vectors, norms, out=vectors, where=norms > 0)

        return vectors.astype(np.float32)

    def _fill(self, row: npt.NDArray[np.float64], text: str) -> None:
        tokens = words(text)
        features = Counter(tokens)
        features.update(f"{a} {b}" for a, b in itertools.pairwise(tokens))
        for feature, count in features.items():
            index, sign = _slot(feature, self.dim)
            row[index] += sign * (1.0 + math.log(count))


def common_terms(summaries: Iterable[str], limit: int = 5) -> list[str]:
    """The words found in the most summaries, most frequent first.

    Words of fewer than three letters, numbers and English function words are
    left out; ties are broken alphabetically so the result is deterministic.
    """
    frequency: Counter[str] = Counter()
    for summary in summaries:
        frequency.update(
            {
                w
                for w in words(summary)
                if len(w) >= 3 and not w.isdigit() and w not in _STOPWORDS
            }
        )
    ranked = sorted(frequency.items(), key=lambda item: (-item[1], item[0]))

    return [term for term, _ in ranked[:limit]]


class TemplateDrafter(Drafter):
    """Drafts a rule from a fixed template that cites the cluster's corrections.

    The title names the cluster's common terms, the text restates its most
    confident correction, and the rationale cites the correction ids (the first
    ``max_cited``, then how many more) with the cluster's figures. It does not
    rephrase or generalise: a reviewer is expected to edit the text.
    """

    def __init__(self, max_cited: int = 20) -> None:
        self.max_cited = max_cited

    async def draft(self, cluster: ClusterSummary) -> DraftRule:
        terms = common_terms(cluster.summaries)
        topic = ", ".join(terms) if terms else "a recurring correction"
        example = cluster.summaries[0] if cluster.summaries else ""
        title = f"Proposed rule: {', '.join(terms[:3]) or 'recurring correction'}"
        text = (
            f"When an input concerns {topic}, apply the change reviewers asked "
            f"for repeatedly: {example}"
        )
        rationale = (
            f"Drafted from {cluster.size} similar corrections "
            f"({self._cite(cluster.correction_ids)}) with mean confidence "
            f"{cluster.mean_confidence:.3f} and mean similarity "
            f"{cluster.mean_similarity:.3f}; their common terms are {topic}."
        )
        if cluster.rule_ids:
            rationale += f" They correct verdicts of {self._cite(cluster.rule_ids)}."

        return DraftRule(title=title, text=text.strip(), rationale=rationale)

    def _cite(self, ids: Sequence[str]) -> str:
        cited = ", ".join(ids[: self.max_cited])
        more = len(ids) - self.max_cited

        return f"{cited} and {more} more" if more > 0 else cited


class PatternEvaluator(Evaluator):
    """Applies a rule's ``pattern``: deny when the regex matches, allow otherwise.

    The pattern is a Python regular expression searched anywhere in the input
    (use ``^``/``$`` to anchor, ``(?i)`` to ignore case). A rule without a
    pattern, or whose pattern does not compile, is reported as not evaluable:
    this evaluator cannot read a rule's prose. Patterns run without a time
    limit, so a catastrophically backtracking pattern can stall the worker.
    """

    async def evaluate(self, rule: RuleText, input_text: str) -> EvalResult:
        pattern = rule.pattern
        if pattern is None or not pattern.strip():
            reason = (
                f"rule {rule.id} has no pattern; the local evaluator can only "
                "apply patterns"
            )
            return EvalResult(verdict=None, evaluable=False, reason=reason)
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            reason = (
                f"the pattern of rule {rule.id} is not a valid regular "
                f"expression: {exc}"
            )
            return EvalResult(verdict=None, evaluable=False, reason=reason)
        match = compiled.search(input_text)
        if match is None:
            return EvalResult(verdict="allow", evaluable=True, reason="no match")

        return EvalResult(
            verdict="deny", evaluable=True, reason=f"matched at {match.start()}"
        )


def local_providers(dim: int = 512) -> Providers:
    """The local embedder, drafter and evaluator."""
    return Providers(
        name="local",
        embedder=HashingEmbedder(dim),
        drafter=TemplateDrafter(),
        evaluator=PatternEvaluator(),
    )
