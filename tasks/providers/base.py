"""The three seams where a model is needed: embedding, drafting, evaluating.

Each seam is an abstract class; :mod:`tasks.providers.local` implements all three
offline. Tasks receive them bundled in a :class:`Providers`.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

Verdict = Literal["allow", "deny"]


@dataclass(frozen=True)
class ClusterSummary:
    """What a drafter is told about one cluster of corrections.

    Attributes:
        correction_ids: every correction of the cluster, sorted.
        summaries: delta summaries of a sample of the cluster (at most a few
            dozen, most confident first), so that a large cluster does not make
            a large prompt.
        mean_confidence: mean of the corrections' confidences.
        mean_similarity: mean pairwise cosine similarity of their embeddings.
        rule_ids: the distinct rules the corrections refer to, sorted.
        analysis_types: the distinct analysis types of the corrections, sorted.
    """

    correction_ids: tuple[str, ...]
    summaries: tuple[str, ...]
    mean_confidence: float
    mean_similarity: float
    rule_ids: tuple[str, ...] = ()
    analysis_types: tuple[str, ...] = ()

    @property
    def size(self) -> int:
        return len(self.correction_ids)


@dataclass(frozen=True)
class DraftRule:
    """A proposed rule, as a reviewer will read it."""

    title: str
    text: str
    rationale: str


@dataclass(frozen=True)
class EvalResult:
    """One rule's verdict on one input.

    ``verdict`` is ``None`` exactly when ``evaluable`` is false; ``reason`` then
    says why the rule could not be applied.
    """

    verdict: Verdict | None
    evaluable: bool
    reason: str


class RuleText(Protocol):
    """The parts of a rule an evaluator reads (a :class:`~tasks.schema.Rule` fits)."""

    @property
    def id(self) -> str: ...

    @property
    def text(self) -> str: ...

    @property
    def pattern(self) -> str | None: ...


class Embedder(abc.ABC):
    """Turns texts into L2-normalised vectors whose dot product is a cosine."""

    @property
    @abc.abstractmethod
    def model(self) -> str:
        """The model's name; cached embeddings are keyed by it."""

    @property
    def cross_lingual(self) -> bool:
        """Whether a text and its translation embed close together.

        Only such an embedder can score a translation against its source; the
        jobs that compare translations skip the similarity check otherwise. The
        default is ``False``: an implementation that compares across languages
        says so by overriding this property.
        """
        return False

    @abc.abstractmethod
    async def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed ``texts`` into a float32 array of shape ``(len(texts), dim)``.

        Every row has unit length, except that a provider may return a zero row
        for a text it finds nothing in; such a row is similar to nothing.
        """


class Drafter(abc.ABC):
    """Writes a draft rule from a cluster of similar corrections."""

    @abc.abstractmethod
    async def draft(self, cluster: ClusterSummary) -> DraftRule:
        """Draft the rule the cluster's corrections ask for."""


class Evaluator(abc.ABC):
    """Applies a rule to an input and gives a verdict, when it can."""

    @abc.abstractmethod
    async def evaluate(self, rule: RuleText, input_text: str) -> EvalResult:
        """The rule's verdict on ``input_text``, or why it gives none."""


@dataclass(frozen=True)
class Providers:
    """The providers one process uses, all from the same ``LLM_PROVIDER``."""

    name: str
    embedder: Embedder
    drafter: Drafter
    evaluator: Evaluator
