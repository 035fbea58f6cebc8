"""The records of a snapshot document, as strict pydantic models (DESIGN §6).

Each model refuses unknown fields and coerces no types (a JSON number is never
taken for a string); its limits are those of the columns the records go to.
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    field_validator,
)


class Maturity(StrEnum):
    """How far a rule has come: promoted upwards, demoted to experimental."""

    EXPERIMENTAL = "experimental"
    STABLE = "stable"
    PROVEN = "proven"


class RuleStatus(StrEnum):
    """A rule's lifecycle status; the jobs look at ``active`` rules."""

    ACTIVE = "active"
    DEPRECATED = "deprecated"
    ARCHIVED = "archived"


class Verdict(StrEnum):
    """A rule's verdict on one input."""

    ALLOW = "allow"
    DENY = "deny"


Effect = Verdict
"""A rule's effect uses the verdict's two values."""


class Outcome(StrEnum):
    """A human judgment of one evaluation."""

    CORRECT = "correct"
    FALSE_POSITIVE = "false_positive"
    FALSE_NEGATIVE = "false_negative"


def _parse_timestamp(value: object) -> datetime:
    """Accept an ISO 8601 string (or a datetime) that carries a time zone."""
    if isinstance(value, datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            msg = f"{value!r} is not an ISO 8601 timestamp"
            raise ValueError(msg) from None
    else:
        msg = f"expected an ISO 8601 timestamp string, got {type(value).__name__}"
        raise ValueError(msg)
    if parsed.utcoffset() is None:
        msg = f"{value!s} has no time zone; add one, e.g. 'Z' or '+02:00'"
        raise ValueError(msg)

    return parsed


def _without_nul(value: str) -> str:
    """Refuse the NUL character, which PostgreSQL text and JSONB cannot store."""
    if "\x00" in value:
        msg = "contains a NUL character (\\u0000), which the database cannot store"
        raise ValueError(msg)

    return value


def _text(min_length: int = 0, max_length: int | None = None) -> StringConstraints:
    """A strict string's length limits (a JSON string, never a coerced number)."""
    return StringConstraints(strict=True, min_length=min_length, max_length=max_length)


# The limits are the columns' (String(n), and INTEGER for counts), so that a
# checked document cannot fail when it is written.
_INT4_MAX = 2**31 - 1
# A text field holds at most 100,000 characters: rules, norms and summaries are
# prose, and a larger value is a broken export rather than a long rule.
MAX_TEXT = 100_000
Text = Annotated[str, _text(0, MAX_TEXT), AfterValidator(_without_nul)]
Id = Annotated[str, _text(1, 200), AfterValidator(_without_nul)]
Locale = Annotated[str, _text(1, 20), AfterValidator(_without_nul)]
Version = Annotated[int, Field(strict=True, ge=1, le=_INT4_MAX)]
Timestamp = Annotated[datetime, BeforeValidator(_parse_timestamp)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class NormRecord(_Record):
    """An upstream norm; ``derives_from`` names norms only."""

    id: Id
    title: Text
    text: Text
    version: Version
    derives_from: list[Id]


class TranslationRecord(_Record):
    """A rule's text in another locale, made from one version of the source."""

    locale: Locale
    text: Text
    source_version: Version


class ExampleRecord(_Record):
    """A code example of a rule in one programming language."""

    language: Annotated[str, _text(1), AfterValidator(_without_nul)]
    code: Text


class RuleRecord(_Record):
    """A governance rule with its translations, lineage and examples."""

    id: Id
    title: Text
    text: Text
    locale: Locale
    version: Version
    maturity: Maturity
    status: RuleStatus
    created_at: Timestamp
    deprecated_at: Timestamp | None = None
    review_interval_days: Version
    last_reviewed_at: Timestamp | None = None
    legal_hold: StrictBool
    scope: Annotated[str, _text(0, 200), AfterValidator(_without_nul)]
    effect: Effect
    pattern: Text | None = None
    required_locales: list[Locale]
    translations: list[TranslationRecord]
    derives_from: list[Id]
    examples: list[ExampleRecord]

    @field_validator("pattern")
    @classmethod
    def _pattern_compiles(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                msg = f"not a valid regular expression: {exc}"
                raise ValueError(msg) from None
        return value


class EvaluationRecord(_Record):
    """One verdict of one rule on one input."""

    id: Id
    rule_id: Id
    verdict: Verdict
    created_at: Timestamp


class JudgmentRecord(_Record):
    """A human review of one evaluation."""

    id: Id
    evaluation_id: Id
    outcome: Outcome
    created_at: Timestamp


class CorrectionRecord(_Record):
    """A human correction; ``status`` is any non-empty string the source uses."""

    id: Id
    rule_id: Id | None = None
    evaluation_id: Id | None = None
    analysis_type: Annotated[str, _text(1, 100), AfterValidator(_without_nul)]
    status: Annotated[str, _text(1, 50), AfterValidator(_without_nul)]
    delta_summary: Text
    confidence: Annotated[float, Field(strict=True, ge=0, le=1, allow_inf_nan=False)]
    created_at: Timestamp


class CanaryRecord(_Record):
    """A stored input with the verdict its rule is expected to give."""

    id: Id
    rule_id: Id
    input: Text
    expected_verdict: Verdict


class Snapshot(_Record):
    """A whole repository snapshot, as DESIGN §6 lists it."""

    locales: list[Locale]
    norms: list[NormRecord]
    rules: list[RuleRecord]
    evaluations: list[EvaluationRecord]
    judgments: list[JudgmentRecord]
    corrections: list[CorrectionRecord]
    canaries: list[CanaryRecord]
