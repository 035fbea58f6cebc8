"""The cross-record rules of a snapshot, checked against what is already stored."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from tasks.importers import find_lineage_cycles, format_cycle
from tasks.snapshot.document import SnapshotError, parse_snapshot
from tasks.snapshot.records import CorrectionRecord, RuleRecord, Snapshot


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
    evaluation_rules = resolve_evaluation_rules(snapshot, known)
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


def resolve_evaluation_rules(snapshot: Snapshot, known: KnownRecords) -> dict[str, str]:
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
