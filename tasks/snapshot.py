"""Repository snapshots (DESIGN §6): the document, its checks, and loading it.

A snapshot is one JSON object with the keys ``locales``, ``norms``, ``rules``,
``evaluations``, ``judgments``, ``corrections`` and ``canaries``. Loading it is all
or nothing: the whole document is checked first, its shape with pydantic and then
every cross-record rule against the snapshot and the database together, and a
document with even one problem is refused with a :class:`SnapshotError` that lists
each problem with its path (``rules[3].derives_from[0]: unknown id 'N-9'``) before
anything is written.

The cross-record rules:

- ids are unique within a kind; norms and rules share one namespace, so a norm
  and a rule may not share an id, in the snapshot or with the database;
- references name a record of the snapshot or of the database: an evaluation's or
  a canary's rule, a judgment's evaluation, a correction's rule and evaluation
  (and when it gives both, the evaluation belongs to that rule), a rule's
  ``derives_from`` (norms or rules) and a norm's ``derives_from`` (norms only);
- every locale a rule names (its own, its required ones, its translations') is
  listed in ``locales``; a rule has at most one translation per locale, none into
  its own locale, and none made from a version newer than the rule's;
- the lineage stays acyclic, also together with the edges already stored.

A valid snapshot is written in the caller's transaction with
``INSERT ... ON CONFLICT DO NOTHING``: records already stored keep their state (the
jobs own it: maturity, processed corrections, reviews), and only new rows are
added. That holds for translations and lineage edges too, which are added to an
existing rule when they are new. A judgment's ``rule_id`` is copied from its
evaluation as stored, or from the snapshot when the evaluation is new.

Two loads running at the same time do not see each other's uncommitted lineage,
so together they could close a cycle that neither closes alone; the planning step
of norm propagation checks the stored lineage again for that reason.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StringConstraints,
    ValidationError,
    field_validator,
)
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.importers import (
    InsertCount,
    among,
    domain_table,
    fetch_ancestor_edges,
    find_lineage_cycles,
    format_cycle,
    insert_new_rows,
)

logger = logging.getLogger(__name__)

# Problems shown in a SnapshotError's message; ``errors`` keeps them all.
SHOWN_ERRORS = 20


class SnapshotError(Exception):
    """A snapshot document was refused; ``errors`` lists every problem found.

    Each entry reads ``path: message``, where the path points into the document
    (``rules[3].derives_from[0]``). Nothing of a refused document is written.
    """

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        shown = "\n  ".join(self.errors[:SHOWN_ERRORS])
        more = len(self.errors) - SHOWN_ERRORS
        tail = f"\n  ... and {more} more" if more > 0 else ""
        count = len(self.errors)
        noun = "problem" if count == 1 else "problems"
        super().__init__(
            f"the snapshot was not loaded: {count} {noun}:\n  {shown}{tail}"
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
Text = Annotated[str, _text(), AfterValidator(_without_nul)]
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


@dataclass(frozen=True)
class KnownRecords:
    """What the database already holds that a snapshot's references may name.

    ``lineage`` holds only the stored edges that a cycle through the snapshot's
    edges could use (those above the snapshot's parents).
    """

    norm_ids: frozenset[str] = frozenset()
    rule_ids: frozenset[str] = frozenset()
    evaluation_rules: Mapping[str, str] = field(default_factory=dict)
    lineage: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class LoadReport:
    """How many records of each kind a load added and how many were stored."""

    counts: Mapping[str, InsertCount]

    def __getitem__(self, kind: str) -> InsertCount:
        return self.counts[kind]

    def as_dict(self) -> dict[str, dict[str, int]]:
        """The counts as plain JSON-ready data: ``{kind: {new, existing}}``."""
        return {
            k: {"new": c.new, "existing": c.existing} for k, c in self.counts.items()
        }

    def __str__(self) -> str:
        return "\n".join(f"{kind}: {count}" for kind, count in self.counts.items())


def read_snapshot_file(path: Path | str) -> dict[str, Any]:
    """Read a snapshot document from a JSON file.

    Raises:
        SnapshotError: the file cannot be read, is not UTF-8 JSON (the message
            gives the line and column), or does not hold a JSON object.
    """
    try:
        with Path(path).open(encoding="utf-8") as stream:
            data = json.load(stream)
    except json.JSONDecodeError as exc:
        problem = f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: "
        raise SnapshotError([problem + exc.msg]) from exc
    except UnicodeDecodeError as exc:
        problem = f"{path}: not UTF-8 text (byte {exc.start}): {exc.reason}"
        raise SnapshotError([problem]) from exc
    except OSError as exc:
        problem = f"{path}: cannot be read: {exc.strerror or exc}"
        raise SnapshotError([problem]) from exc
    if not isinstance(data, dict):
        problem = f"{path}: a snapshot is a JSON object, got a {type(data).__name__}"
        raise SnapshotError([problem])

    return data


def parse_snapshot(data: Mapping[str, Any]) -> Snapshot:
    """Check a document's shape and build its records.

    Raises:
        SnapshotError: with one ``path: message`` entry per field in error.
    """
    if not isinstance(data, Mapping):
        keys = ", ".join(Snapshot.model_fields)
        msg = f"(document): a snapshot is a JSON object with the keys {keys}"
        raise SnapshotError([msg])
    try:
        return Snapshot.model_validate(dict(data))
    except ValidationError as exc:
        raise SnapshotError([_format_pydantic_error(e) for e in exc.errors()]) from None


def _format_pydantic_error(error: Mapping[str, Any]) -> str:
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else part)
    message = error["msg"]
    if error["type"] == "value_error":
        message = str(error["ctx"]["error"])
    elif error["type"] not in ("missing", "extra_forbidden"):
        message += f" (got {json.dumps(error.get('input'), default=str)[:60]})"

    return f"{path or '(document)'}: {message}"


def validate_snapshot(
    data: Mapping[str, Any], known: KnownRecords | None = None
) -> Snapshot:
    """Check a document's shape and cross-record rules without touching a database.

    Args:
        data: the parsed JSON document.
        known: records already stored that references may name (none by default).

    Raises:
        SnapshotError: listing every problem found.
    """
    snapshot = parse_snapshot(data)
    errors = check_snapshot(snapshot, known or KnownRecords())
    if errors:
        raise SnapshotError(errors)

    return snapshot


def check_snapshot(snapshot: Snapshot, known: KnownRecords) -> list[str]:
    """The cross-record problems of a well-shaped snapshot, as ``path: message``."""
    return [
        *_check_ids(snapshot, known),
        *_check_locales(snapshot),
        *_check_derivations(snapshot, known),
        *_check_references(snapshot, known),
        *_check_cycles(snapshot, known),
    ]


def _duplicates(kind: str, ids: Iterable[str]) -> Iterable[str]:
    first: dict[str, int] = {}
    for index, record_id in enumerate(ids):
        if record_id in first:
            yield (
                f"{kind}[{index}].id: duplicate id {record_id!r}, "
                f"already used by {kind}[{first[record_id]}]"
            )
        else:
            first[record_id] = index


def _check_ids(snapshot: Snapshot, known: KnownRecords) -> Iterable[str]:
    kinds = ("norms", "rules", "evaluations", "judgments", "corrections", "canaries")
    for kind in kinds:
        yield from _duplicates(kind, (r.id for r in getattr(snapshot, kind)))
    rule_index = {r.id: i for i, r in enumerate(snapshot.rules)}
    for index, norm in enumerate(snapshot.norms):
        if norm.id in rule_index:
            yield (
                f"norms[{index}].id: {norm.id!r} is also the id of "
                f"rules[{rule_index[norm.id]}]; norms and rules share one namespace"
            )
        elif norm.id in known.rule_ids:
            yield (
                f"norms[{index}].id: {norm.id!r} is already a rule in the database; "
                "norms and rules share one namespace"
            )
    for index, rule in enumerate(snapshot.rules):
        if rule.id in known.norm_ids:
            yield (
                f"rules[{index}].id: {rule.id!r} is already a norm in the database; "
                "norms and rules share one namespace"
            )


def _check_locales(snapshot: Snapshot) -> Iterable[str]:
    yield from (
        f"locales[{i}]: {loc!r} is listed twice"
        for i, loc in enumerate(snapshot.locales)
        if loc in snapshot.locales[:i]
    )
    declared = set(snapshot.locales)
    for index, rule in enumerate(snapshot.rules):
        path = f"rules[{index}]"
        if rule.locale not in declared:
            yield f"{path}.locale: {rule.locale!r} is not listed in locales"
        for i, loc in enumerate(rule.required_locales):
            if loc not in declared:
                yield f"{path}.required_locales[{i}]: {loc!r} is not listed in locales"
        yield from _check_translations(path, rule, declared)


def _check_translations(
    path: str, rule: RuleRecord, declared: set[str]
) -> Iterable[str]:
    seen: set[str] = set()
    for i, translation in enumerate(rule.translations):
        where = f"{path}.translations[{i}]"
        if translation.locale not in declared:
            yield f"{where}.locale: {translation.locale!r} is not listed in locales"
        if translation.locale == rule.locale:
            yield f"{where}.locale: {rule.locale!r} is the rule's own locale"
        elif translation.locale in seen:
            yield f"{where}.locale: a second translation into {translation.locale!r}"
        seen.add(translation.locale)
        if translation.source_version > rule.version:
            yield (
                f"{where}.source_version: {translation.source_version} is newer "
                f"than the rule's version {rule.version}"
            )


def _check_derivations(snapshot: Snapshot, known: KnownRecords) -> Iterable[str]:
    norm_ids = {n.id for n in snapshot.norms} | known.norm_ids
    rule_ids = {r.id for r in snapshot.rules} | known.rule_ids
    for index, norm in enumerate(snapshot.norms):
        for i, parent in enumerate(norm.derives_from):
            path = f"norms[{index}].derives_from[{i}]"
            if parent in rule_ids and parent not in norm_ids:
                yield f"{path}: {parent!r} is a rule; a norm derives from norms only"
            elif parent not in norm_ids:
                yield f"{path}: unknown id {parent!r} (no norm has it)"
    for index, rule in enumerate(snapshot.rules):
        for i, parent in enumerate(rule.derives_from):
            if parent not in norm_ids and parent not in rule_ids:
                yield (
                    f"rules[{index}].derives_from[{i}]: unknown id {parent!r} "
                    "(no norm or rule has it)"
                )


def _check_references(snapshot: Snapshot, known: KnownRecords) -> Iterable[str]:
    rule_ids = {r.id for r in snapshot.rules} | known.rule_ids
    evaluation_rules = _evaluation_rules(snapshot, known)
    for kind in ("evaluations", "canaries"):
        for index, record in enumerate(getattr(snapshot, kind)):
            if record.rule_id not in rule_ids:
                yield f"{kind}[{index}].rule_id: unknown id {record.rule_id!r} (no rule)"
    for index, judgment in enumerate(snapshot.judgments):
        if judgment.evaluation_id not in evaluation_rules:
            yield (
                f"judgments[{index}].evaluation_id: unknown id "
                f"{judgment.evaluation_id!r} (no evaluation)"
            )
    for index, correction in enumerate(snapshot.corrections):
        yield from _check_correction(
            f"corrections[{index}]", correction, rule_ids, evaluation_rules
        )


def _check_correction(
    path: str,
    correction: CorrectionRecord,
    rule_ids: set[str] | frozenset[str],
    evaluation_rules: Mapping[str, str],
) -> Iterable[str]:
    rule_id, evaluation_id = correction.rule_id, correction.evaluation_id
    if rule_id is not None and rule_id not in rule_ids:
        yield f"{path}.rule_id: unknown id {rule_id!r} (no rule)"
    if evaluation_id is None:
        return
    evaluation_rule = evaluation_rules.get(evaluation_id)
    if evaluation_rule is None:
        yield f"{path}.evaluation_id: unknown id {evaluation_id!r} (no evaluation)"
    elif rule_id is not None and evaluation_rule != rule_id:
        yield (
            f"{path}.rule_id: evaluation {evaluation_id!r} belongs to rule "
            f"{evaluation_rule!r}, not {rule_id!r}"
        )


def _evaluation_rules(snapshot: Snapshot, known: KnownRecords) -> dict[str, str]:
    """Each evaluation's rule; a stored evaluation keeps its stored rule."""
    rules = {e.id: e.rule_id for e in snapshot.evaluations}
    rules.update(known.evaluation_rules)

    return rules


def snapshot_edges(snapshot: Snapshot) -> dict[tuple[str, str], str]:
    """Each DERIVES_FROM edge (child, parent) of a snapshot, with its child's path."""
    edges: dict[tuple[str, str], str] = {}
    for kind in ("norms", "rules"):
        for index, record in enumerate(getattr(snapshot, kind)):
            for parent in record.derives_from:
                edges.setdefault((record.id, parent), f"{kind}[{index}].derives_from")

    return edges


def _check_cycles(snapshot: Snapshot, known: KnownRecords) -> Iterable[str]:
    edges = snapshot_edges(snapshot)
    for cycle, with_stored in find_lineage_cycles(edges, known.lineage):
        yield f"{edges[(cycle[0], cycle[1])]}: {format_cycle(cycle, with_stored)}"


async def fetch_known_records(
    session: AsyncSession, snapshot: Snapshot
) -> KnownRecords:
    """Read what the database holds that the snapshot's references may name."""
    edges = snapshot_edges(snapshot)
    node_ids = {n.id for n in snapshot.norms} | {r.id for r in snapshot.rules}
    node_ids.update(parent for _, parent in edges)
    for holder in (snapshot.evaluations, snapshot.canaries, snapshot.corrections):
        node_ids.update(r.rule_id for r in holder if r.rule_id is not None)
    evaluation_ids = {j.evaluation_id for j in snapshot.judgments}
    evaluation_ids.update(
        c.evaluation_id for c in snapshot.corrections if c.evaluation_id is not None
    )
    norms, rules = domain_table("norms"), domain_table("rules")
    evaluations = domain_table("evaluations")
    norm_ids = await session.scalars(
        select(norms.c.id).where(among(norms.c.id, node_ids))
    )
    rule_ids = await session.scalars(
        select(rules.c.id).where(among(rules.c.id, node_ids))
    )
    evaluation_rows = await session.execute(
        select(evaluations.c.id, evaluations.c.rule_id).where(
            among(evaluations.c.id, evaluation_ids)
        )
    )

    return KnownRecords(
        norm_ids=frozenset(norm_ids),
        rule_ids=frozenset(rule_ids),
        evaluation_rules={row.id: row.rule_id for row in evaluation_rows},
        lineage=tuple(await fetch_ancestor_edges(session, (p for _, p in edges))),
    )


async def load_snapshot(session: AsyncSession, data: Mapping[str, Any]) -> LoadReport:
    """Check a snapshot document whole, then insert its new records.

    The writes happen in the caller's transaction, which the caller commits; a
    document with any problem raises before the first write.

    Raises:
        SnapshotError: listing every problem of the document.
    """
    snapshot = parse_snapshot(data)
    known = await fetch_known_records(session, snapshot)
    errors = check_snapshot(snapshot, known)
    if errors:
        raise SnapshotError(errors)

    counts: dict[str, InsertCount] = {}
    for kind, rows in _rows_by_kind(snapshot, known):
        counts[kind] = await insert_new_rows(session, domain_table(kind), rows)
    report = LoadReport(counts)
    logger.info(
        "loaded snapshot: %d new and %d existing records",
        sum(c.new for c in counts.values()),
        sum(c.existing for c in counts.values()),
        extra={"event": "snapshot.loaded"},
    )

    return report


def _rows_by_kind(
    snapshot: Snapshot, known: KnownRecords
) -> list[tuple[str, list[dict[str, Any]]]]:
    """Each table's rows, parents before children (the foreign keys' order)."""
    snapshot_norm_ids = {n.id for n in snapshot.norms}
    norm_ids = snapshot_norm_ids | known.norm_ids
    evaluation_rules = _evaluation_rules(snapshot, known)
    norms = [
        {**n.model_dump(exclude={"derives_from"}), "source": "snapshot"}
        for n in snapshot.norms
    ]
    rules = [
        {
            **r.model_dump(exclude={"translations", "derives_from"}),
            "source": "snapshot",
        }
        for r in snapshot.rules
    ]
    translations = [
        {"rule_id": r.id, **t.model_dump()}
        for r in snapshot.rules
        for t in r.translations
    ]
    lineage = [
        {
            "child_id": child,
            "parent_id": parent,
            "child_kind": "norm" if child in snapshot_norm_ids else "rule",
            "parent_kind": "norm" if parent in norm_ids else "rule",
        }
        for child, parent in snapshot_edges(snapshot)
    ]
    judgments = [
        {**j.model_dump(), "rule_id": evaluation_rules[j.evaluation_id]}
        for j in snapshot.judgments
    ]

    return [
        ("norms", norms),
        ("rules", rules),
        ("translations", translations),
        ("lineage", lineage),
        ("evaluations", [e.model_dump() for e in snapshot.evaluations]),
        ("judgments", judgments),
        ("corrections", [c.model_dump() for c in snapshot.corrections]),
        ("canaries", [c.model_dump() for c in snapshot.canaries]),
    ]
