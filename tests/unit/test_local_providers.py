"""The offline providers: hashing embedder, template drafter, pattern evaluator."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from orchestrator.config import Settings
from tasks.providers import ClusterSummary, get_providers
from tasks.providers.local import (
    HashingEmbedder,
    PatternEvaluator,
    TemplateDrafter,
    common_terms,
)


@dataclass
class FakeRule:
    """Just the fields an evaluator reads."""

    id: str
    text: str
    pattern: str | None


def cluster(ids: list[str], summaries: list[str]) -> ClusterSummary:
    return ClusterSummary(
        correction_ids=tuple(ids),
        summaries=tuple(summaries),
        mean_confidence=0.87,
        mean_similarity=0.91,
        rule_ids=("R-7",),
        analysis_types=("false_positive",),
    )


async def test_embedder_is_deterministic_and_normalised() -> None:
    """The same texts give the same unit vectors, in a fresh instance too."""
    texts = ["Refunds above 500 EUR need approval", "Ne pas bloquer les remboursements"]

    first = await HashingEmbedder().embed(texts)
    second = await HashingEmbedder().embed(texts)

    assert first.dtype == np.float32
    assert first.shape == (2, 512)
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, rtol=1e-6)


async def test_embedder_puts_similar_texts_close_and_unrelated_far() -> None:
    """Texts differing in one word are above 0.8; unrelated texts are near 0."""
    texts = [
        "deny requests that export customer emails to personal accounts",
        "deny requests that export customer emails to private accounts",
        "allow refunds under fifty euros without a manager",
    ]

    vectors = await HashingEmbedder().embed(texts)
    similarities = vectors @ vectors.T

    assert similarities[0, 1] >= 0.8
    assert abs(similarities[0, 2]) < 0.3


async def test_embedder_ignores_case_and_punctuation() -> None:
    """Case and punctuation do not change the embedding."""
    vectors = await HashingEmbedder().embed(["Block PII, now!", "block pii now"])

    np.testing.assert_allclose(vectors[0], vectors[1])


async def test_embedder_gives_zero_vector_for_empty_text() -> None:
    """A text without words embeds to zeros instead of dividing by zero."""
    vectors = await HashingEmbedder(dim=64).embed(["", "  ...  "])

    assert vectors.shape == (2, 64)
    assert not vectors.any()


async def test_embedder_names_its_model_by_dimension() -> None:
    """The model name, the cache key of embeddings, changes with the dimension."""
    assert HashingEmbedder(256).model != HashingEmbedder(512).model


async def test_drafter_cites_every_correction_and_common_terms() -> None:
    """The rationale cites each correction id; the title names shared terms."""
    ids = ["C-1", "C-2", "C-3"]
    summaries = [
        "Customer emails must not be exported to personal accounts",
        "Exporting customer emails to personal mail is a leak",
        "Customer emails exported to personal storage should be denied",
    ]

    draft = await TemplateDrafter().draft(cluster(ids, summaries))

    for correction_id in ids:
        assert correction_id in draft.rationale
    assert "customer" in draft.title
    assert "emails" in draft.title
    assert "R-7" in draft.rationale
    assert summaries[0] in draft.text


async def test_drafter_caps_the_citation_of_a_large_cluster() -> None:
    """A large cluster cites its first ids and says how many more there are."""
    ids = [f"C-{i:03d}" for i in range(50)]

    draft = await TemplateDrafter(max_cited=5).draft(cluster(ids, ["same text"] * 5))

    assert "C-004" in draft.rationale
    assert "C-005" not in draft.rationale
    assert "and 45 more" in draft.rationale


def test_common_terms_skip_function_words_and_rank_by_frequency() -> None:
    """Words in more summaries come first; stop words and numbers are left out."""
    terms = common_terms(["the refund of 500", "a refund to the bank", "bank refund"])

    assert terms == ["refund", "bank"]


@pytest.mark.parametrize(
    ("pattern", "text", "verdict"),
    [
        (r"\bpassword\b", "my password is hunter2", "deny"),
        (r"\bpassword\b", "my passwords are fine", "allow"),
        (r"(?i)^drop table", "DROP TABLE users", "deny"),
        (r"^drop table", "please drop table users", "allow"),
    ],
)
async def test_evaluator_denies_when_the_pattern_matches(
    pattern: str, text: str, verdict: str
) -> None:
    """A matching pattern gives deny, any other input allow."""
    result = await PatternEvaluator().evaluate(FakeRule("R-1", "text", pattern), text)

    assert result.evaluable
    assert result.verdict == verdict


@pytest.mark.parametrize("pattern", [None, "", "   "])
async def test_evaluator_reports_a_rule_without_pattern_as_not_evaluable(
    pattern: str | None,
) -> None:
    """A rule without a pattern gets no verdict, and the reason says why."""
    result = await PatternEvaluator().evaluate(FakeRule("R-2", "text", pattern), "x")

    assert not result.evaluable
    assert result.verdict is None
    assert "R-2" in result.reason
    assert "no pattern" in result.reason


async def test_evaluator_reports_an_invalid_pattern_as_not_evaluable() -> None:
    """A pattern that does not compile gets no verdict, naming the regex error."""
    result = await PatternEvaluator().evaluate(FakeRule("R-3", "t", "([a-z"), "abc")

    assert not result.evaluable
    assert result.verdict is None
    assert "not a valid regular expression" in result.reason


def test_get_providers_returns_local_by_default() -> None:
    """LLM_PROVIDER=local gives the offline providers."""
    providers = get_providers(Settings(llm_provider="local"))

    assert providers.name == "local"
    assert isinstance(providers.embedder, HashingEmbedder)
