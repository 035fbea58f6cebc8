"""Loading a checked snapshot: new records are inserted, stored ones kept."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.importers import (
    InsertCount,
    among,
    domain_table,
    fetch_ancestor_edges,
    insert_new_rows,
)
from tasks.snapshot.checks import (
    KnownRecords,
    check_snapshot,
    resolve_evaluation_rules,
    snapshot_edges,
)
from tasks.snapshot.document import SnapshotError, parse_snapshot
from tasks.snapshot.records import Snapshot

logger = logging.getLogger(__name__)


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
    evaluation_rules = resolve_evaluation_rules(snapshot, known)
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
