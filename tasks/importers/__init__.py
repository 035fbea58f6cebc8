"""Bringing records in: catalogue importers and what they share with loading.

``rulerepo import cwe FILE`` and ``rulerepo import asvs DIR`` (DESIGN §6) turn
public catalogues into norms, rules, translations and lineage; ``rulerepo load``
(:mod:`tasks.snapshot`) reads a repository snapshot. All of them write with
``INSERT ... ON CONFLICT DO NOTHING`` in batches (:func:`insert_new_rows`), so a
second run adds nothing and says so, and all of them refuse lineage that would
close a cycle (:func:`find_lineage_cycles`), also with the edges already stored.

::

    CatalogueError        a catalogue file cannot be used at all
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx
from sqlalchemy import ColumnElement, String, Table, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.schema import DomainBase

__all__ = [
    "BATCH_ROWS",
    "MAX_CYCLES",
    "CatalogueError",
    "ImportReport",
    "InsertCount",
    "among",
    "domain_table",
    "examples",
    "fetch_ancestor_edges",
    "find_lineage_cycles",
    "format_cycle",
    "ids_of_other_kind",
    "insert_new_rows",
]

# Rows per INSERT statement: with the widest table (rules, 20 columns) that stays
# far below PostgreSQL's 32,767 parameters, and larger batches gained nothing here.
BATCH_ROWS = 1000
# Cycles reported at most; one is enough to refuse the lineage.
MAX_CYCLES = 10
# Entries of a long list shown in a report's one-line summaries.
EXAMPLES_SHOWN = 5


class CatalogueError(Exception):
    """A catalogue file cannot be imported at all (missing, unreadable, no columns).

    Problems with single records do not raise: they are listed in the
    :class:`ImportReport`.
    """


@dataclass(frozen=True)
class InsertCount:
    """Rows of one kind offered for insertion: new ones and those already stored.

    ``replaced`` counts stored placeholder rows that an import replaced with the
    real record (see :mod:`tasks.importers.cwe`).
    """

    new: int = 0
    existing: int = 0
    replaced: int = 0

    def __add__(self, other: InsertCount) -> InsertCount:
        return InsertCount(
            self.new + other.new,
            self.existing + other.existing,
            self.replaced + other.replaced,
        )

    def __str__(self) -> str:
        replaced = f", {self.replaced} replaced" if self.replaced else ""
        return f"{self.new} new, {self.existing} existing{replaced}"


@dataclass
class ImportReport:
    """What an import wrote, per kind, and what it could not use.

    Attributes:
        source: the catalogue, e.g. ``cwe`` or ``asvs``.
        counts: per kind of row, how many were new and how many already stored.
        unmatched: each input record (or edge) that was not imported, with where
            it is and why.
        notes: everything else worth a reader's attention: suspicious records
            that were imported, and summaries.
    """

    source: str
    counts: dict[str, InsertCount] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __getitem__(self, kind: str) -> InsertCount:
        return self.counts[kind]

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data."""
        return {
            "source": self.source,
            "counts": {
                kind: {"new": c.new, "existing": c.existing, "replaced": c.replaced}
                for kind, c in self.counts.items()
            },
            "unmatched": list(self.unmatched),
            "notes": list(self.notes),
        }

    def __str__(self) -> str:
        lines = [f"import {self.source}:"]
        lines += [f"  {kind}: {count}" for kind, count in self.counts.items()]
        if self.unmatched:
            lines.append(f"  not imported ({len(self.unmatched)}):")
            lines += [f"    {entry}" for entry in self.unmatched]
        if self.notes:
            lines.append("  notes:")
            lines += [f"    {entry}" for entry in self.notes]

        return "\n".join(lines)


def examples(items: Sequence[str]) -> str:
    """The first few items, comma separated, with how many more there are."""
    shown = ", ".join(items[:EXAMPLES_SHOWN])
    more = len(items) - EXAMPLES_SHOWN

    return f"{shown} and {more} more" if more > 0 else shown


def domain_table(name: str) -> Table:
    """The domain table of this name (``norms``, ``lineage`` ...)."""
    return DomainBase.metadata.tables[name]


def among(column: Any, values: Iterable[str]) -> ColumnElement[bool]:
    """``column = ANY(:values)``: one array parameter however many values."""
    array = bindparam(None, sorted(set(values)), type_=ARRAY(String))
    condition: ColumnElement[bool] = column == any_(array)

    return condition


async def ids_of_other_kind(
    session: AsyncSession, norm_ids: Iterable[str], rule_ids: Iterable[str]
) -> set[str]:
    """The ``norm_ids`` stored as rules and the ``rule_ids`` stored as norms.

    Norms and rules share one namespace, so such an id cannot be imported.
    """
    norms, rules = domain_table("norms"), domain_table("rules")
    as_rules = await session.scalars(
        select(rules.c.id).where(among(rules.c.id, norm_ids))
    )
    as_norms = await session.scalars(
        select(norms.c.id).where(among(norms.c.id, rule_ids))
    )

    return set(as_rules) | set(as_norms)


async def insert_new_rows(
    session: AsyncSession, table: Table, rows: Sequence[Mapping[str, Any]]
) -> InsertCount:
    """Insert rows in batches with ``ON CONFLICT DO NOTHING``, counting new ones.

    Rows whose primary key is already stored are left untouched and counted as
    existing. The rows must not repeat a primary key among themselves.
    """
    key = next(iter(table.primary_key.columns))
    statement = pg_insert(table).on_conflict_do_nothing().returning(key)
    new = 0
    for start in range(0, len(rows), BATCH_ROWS):
        batch = list(rows[start : start + BATCH_ROWS])
        new += len((await session.execute(statement, batch)).all())

    return InsertCount(new=new, existing=len(rows) - new)


_ANCESTOR_EDGES = text(
    """
    WITH RECURSIVE above(id) AS (
        SELECT unnest(CAST(:ids AS varchar[]))
        UNION
        SELECT l.parent_id FROM lineage l JOIN above ON l.child_id = above.id
    )
    SELECT l.child_id, l.parent_id FROM lineage l JOIN above ON l.child_id = above.id
    """
).bindparams(bindparam("ids", type_=ARRAY(String)))


async def fetch_ancestor_edges(
    session: AsyncSession, node_ids: Iterable[str]
) -> list[tuple[str, str]]:
    """The stored lineage edges reachable upwards from ``node_ids``.

    A new edge ``child -> parent`` closes a cycle only through a stored path
    from ``parent`` up to ``child``, so these edges are all a cycle check needs.
    """
    ids = sorted(set(node_ids))
    if not ids:
        return []
    result = await session.execute(_ANCESTOR_EDGES, {"ids": ids})

    return [(row.child_id, row.parent_id) for row in result]


def find_lineage_cycles(
    new_edges: Iterable[tuple[str, str]],
    stored_edges: Iterable[tuple[str, str]] = (),
) -> list[tuple[list[str], bool]]:
    """Cycles of DERIVES_FROM edges ``(child, parent)`` that use a new edge.

    Cycles among the new edges alone come first, found with networkx's
    ``find_cycle``; only when there are none are the stored edges added, and each
    strongly connected component that holds a new edge yields one cycle through
    it. A cycle among stored edges alone is not reported: the new edges did not
    make it. Each cycle lists its nodes in order, from the child of a new edge
    back to that node; the flag tells whether stored edges close it. At most
    ``MAX_CYCLES`` are returned.
    """
    new = set(new_edges)
    graph = nx.DiGraph(list(new))
    cycles: list[tuple[list[str], bool]] = []
    while len(cycles) < MAX_CYCLES:
        try:
            found = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            break
        cycles.append(([child for child, _ in found] + [found[0][0]], False))
        graph.remove_edge(*found[0])
    if cycles:
        return cycles

    graph.add_edges_from(stored_edges)
    component_of: dict[str, int] = {}
    for index, component in enumerate(nx.strongly_connected_components(graph)):
        component_of.update(dict.fromkeys(component, index))
    closed: set[int] = set()
    for child, parent in sorted(new):
        index = component_of[child]
        if index != component_of[parent] or index in closed:
            continue
        closed.add(index)
        cycles.append(([child, *nx.shortest_path(graph, parent, child)], True))
        if len(cycles) >= MAX_CYCLES:
            break

    return cycles


def format_cycle(cycle: Sequence[str], with_stored: bool) -> str:
    """A cycle as a phrase: ``lineage cycle 'A' -> 'B' -> 'A' (...)``."""
    nodes = " -> ".join(repr(node) for node in cycle)
    closing = ", closed by lineage already in the database" if with_stored else ""

    return f"lineage cycle {nodes} (each derives from the next{closing})"
