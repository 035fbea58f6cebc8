"""Import MITRE's CSV export of a CWE view: each weakness a norm, ``ChildOf`` lineage.

Every row of the CSV becomes the norm ``CWE-<id>`` (title from ``Name``, text from
``Description``, version 1, source ``cwe``). The ``Related Weaknesses`` column packs
the relations as ``::``-separated entries of ``KEY:VALUE`` pairs, for example
``::NATURE:ChildOf:CWE ID:319:VIEW ID:1000:ORDINAL:Primary::``. Each ``ChildOf``
entry of the imported view (1000, the research view, by default) becomes a
DERIVES_FROM edge from the weakness to its parent; the other relations
(``CanPrecede``, ``PeerOf`` ...) and the ``ChildOf`` entries of other views are
counted in the report and otherwise ignored.

Decisions:

- A parent that is not in the file gets no invented node. The edge is stored when
  the parent is already a norm in the database (imported earlier, from another
  view for instance); otherwise it is skipped and listed, and the report's notes
  give how many and a few examples. The 4.14 research view names no such parent.
- The ASVS importer creates placeholder norms (source ``asvs-ref``) for weaknesses
  that ASVS cites before any CWE import. This import replaces such a placeholder's
  title, text and source with the weakness's (counted as ``replaced``), so the two
  imports can run in either order. Every other stored norm is kept as it is.
- A weakness whose id is already a rule's (norms and rules share one namespace) is
  skipped and listed.
- Lineage that would close a cycle, alone or with the stored lineage, refuses the
  whole file before anything is written.

The file is read whole before the first write, and the writes happen in the
caller's transaction. A second import of the same file adds nothing.
"""

from __future__ import annotations

import csv
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.importers import (
    BATCH_ROWS,
    CatalogueError,
    ImportReport,
    InsertCount,
    among,
    domain_table,
    examples,
    fetch_ancestor_edges,
    find_lineage_cycles,
    format_cycle,
    ids_of_other_kind,
    insert_new_rows,
)

logger = logging.getLogger(__name__)

RESEARCH_VIEW = 1000
PLACEHOLDER_SOURCE = "asvs-ref"
"""The source of the placeholder norms the ASVS importer creates."""
REQUIRED_COLUMNS = ("CWE-ID", "Name", "Description", "Related Weaknesses")


def cwe_norm_id(number: int | str) -> str:
    """The norm id of a weakness number: ``CWE-284``."""
    return f"CWE-{number}"


def parse_related_weaknesses(packed: str) -> list[dict[str, str]]:
    """Split MITRE's packed ``Related Weaknesses`` field into one dict per entry.

    Raises:
        ValueError: an entry does not alternate keys and values.
    """
    entries = []
    for chunk in packed.split("::"):
        if not chunk.strip():
            continue
        tokens = [token.strip() for token in chunk.split(":")]
        if len(tokens) % 2:
            msg = f"entry {chunk!r} does not alternate keys and values"
            raise ValueError(msg)
        entries.append(dict(zip(tokens[::2], tokens[1::2], strict=True)))

    return entries


@dataclass
class _Catalogue:
    """What a CWE file holds: its weaknesses, their edges and what was left out."""

    norms: dict[str, dict[str, object]] = field(default_factory=dict)
    edges: set[tuple[str, str]] = field(default_factory=set)
    unmatched: list[str] = field(default_factory=list)
    ignored: Counter[str] = field(default_factory=Counter)


def _read_rows(csv_path: Path) -> list[dict[str, str]]:
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as stream:
            reader = csv.DictReader(stream)
            missing = [
                c for c in REQUIRED_COLUMNS if c not in (reader.fieldnames or ())
            ]
            if missing:
                msg = (
                    f"{csv_path} is not a CWE CSV export: it has no column "
                    f"{', '.join(map(repr, missing))}"
                )
                raise CatalogueError(msg)
            return list(reader)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        msg = f"{csv_path} cannot be read as a UTF-8 CSV file: {exc}"
        raise CatalogueError(msg) from exc


def _read_catalogue(csv_path: Path, view_id: int) -> _Catalogue:
    catalogue = _Catalogue()
    for row_number, row in enumerate(_read_rows(csv_path), start=1):
        where = f"{csv_path.name} row {row_number}"
        number = (row["CWE-ID"] or "").strip().removeprefix("CWE-")
        if not number.isdigit():
            catalogue.unmatched.append(f"{where}: CWE-ID {number!r} is not a number")
            continue
        norm_id = cwe_norm_id(int(number))
        if norm_id in catalogue.norms:
            catalogue.unmatched.append(f"{where}: {norm_id} appears a second time")
            continue
        catalogue.norms[norm_id] = {
            "id": norm_id,
            "title": (row["Name"] or "").strip(),
            "text": (row["Description"] or "").strip(),
            "version": 1,
            "source": "cwe",
        }
        _read_relations(
            catalogue, where, norm_id, row["Related Weaknesses"] or "", view_id
        )

    return catalogue


def _read_relations(
    catalogue: _Catalogue, where: str, norm_id: str, packed: str, view_id: int
) -> None:
    try:
        entries = parse_related_weaknesses(packed)
    except ValueError as exc:
        catalogue.unmatched.append(f"{where} ({norm_id}): Related Weaknesses: {exc}")
        return
    for entry in entries:
        nature, parent, view = (
            entry.get("NATURE"),
            entry.get("CWE ID"),
            entry.get("VIEW ID"),
        )
        if nature != "ChildOf":
            catalogue.ignored[f"{nature} relations"] += 1
        elif view != str(view_id):
            catalogue.ignored[f"ChildOf entries of other views than {view_id}"] += 1
        elif parent is None or not parent.isdigit():
            catalogue.unmatched.append(
                f"{where} ({norm_id}): a ChildOf entry names no parent number: {entry}"
            )
        else:
            catalogue.edges.add((norm_id, cwe_norm_id(int(parent))))


async def import_cwe(
    session: AsyncSession, csv_path: Path, *, view_id: int = RESEARCH_VIEW
) -> ImportReport:
    """Import a CWE view's CSV export as norms and ``ChildOf`` lineage.

    Args:
        session: writes happen in its transaction, which the caller commits.
        csv_path: MITRE's CSV export of one view.
        view_id: the view whose ``ChildOf`` entries become lineage.

    Raises:
        CatalogueError: the file cannot be read, lacks a required column, or its
            lineage would close a cycle; nothing is written then.
    """
    catalogue = _read_catalogue(csv_path, view_id)
    report = ImportReport(source="cwe", unmatched=catalogue.unmatched)
    await _drop_rule_ids(session, catalogue, report)
    edges = await _edges_to_known_parents(session, catalogue, report)
    cycles = find_lineage_cycles(
        edges, await fetch_ancestor_edges(session, _parents(edges))
    )
    if cycles:
        found = "; ".join(format_cycle(cycle, stored) for cycle, stored in cycles)
        msg = f"{csv_path} was not imported: its ChildOf lineage has a {found}"
        raise CatalogueError(msg)

    report.counts["norms"] = await _insert_norms(
        session, list(catalogue.norms.values())
    )
    report.counts["lineage"] = await insert_new_rows(
        session,
        domain_table("lineage"),
        [
            {"child_id": c, "parent_id": p, "child_kind": "norm", "parent_kind": "norm"}
            for c, p in sorted(edges)
        ],
    )
    report.notes.insert(
        0,
        f"{len(catalogue.norms)} weaknesses and {len(edges)} ChildOf edges of view "
        f"{view_id} read from {csv_path.name}",
    )
    report.notes += [
        f"ignored: {n} {what}" for what, n in sorted(catalogue.ignored.items())
    ]
    logger.info(
        "imported %d weaknesses (%d new) and %d lineage edges (%d new) from %s",
        len(catalogue.norms),
        report["norms"].new,
        len(edges),
        report["lineage"].new,
        csv_path.name,
        extra={"event": "import.cwe"},
    )

    return report


def _parents(edges: Iterable[tuple[str, str]]) -> set[str]:
    return {parent for _, parent in edges}


async def _drop_rule_ids(
    session: AsyncSession, catalogue: _Catalogue, report: ImportReport
) -> None:
    """Skip weaknesses whose id a stored rule already uses (one namespace)."""
    taken = await ids_of_other_kind(session, catalogue.norms, ())
    for norm_id in sorted(taken):
        del catalogue.norms[norm_id]
        report.unmatched.append(f"{norm_id}: the id is already a rule's; not imported")
    catalogue.edges = {e for e in catalogue.edges if not taken.intersection(e)}


async def _edges_to_known_parents(
    session: AsyncSession, catalogue: _Catalogue, report: ImportReport
) -> set[tuple[str, str]]:
    """The edges whose parent is in the file or already stored as a norm."""
    outside = _parents(catalogue.edges) - set(catalogue.norms)
    norms = domain_table("norms")
    stored = set(
        await session.scalars(select(norms.c.id).where(among(norms.c.id, outside)))
    )
    skipped = sorted(e for e in catalogue.edges if e[1] in outside - stored)
    report.unmatched += [
        f"{child} ChildOf {parent}: {parent} is neither in the file nor stored; "
        "edge skipped"
        for child, parent in skipped
    ]
    if skipped:
        report.notes.append(
            f"{len(skipped)} ChildOf edges name {len(outside - stored)} parents that "
            "are neither in the file nor stored, so they were skipped: "
            + examples([f"{c} -> {p}" for c, p in skipped])
        )

    return catalogue.edges - set(skipped)


async def _insert_norms(
    session: AsyncSession, rows: list[dict[str, object]]
) -> InsertCount:
    """Insert new weaknesses and replace ASVS placeholders; keep every other norm."""
    norms = domain_table("norms")
    placeholders = set(
        await session.scalars(
            select(norms.c.id).where(
                among(norms.c.id, (str(r["id"]) for r in rows)),
                norms.c.source == PLACEHOLDER_SOURCE,
            )
        )
    )
    insert = pg_insert(norms)
    statement = insert.on_conflict_do_update(
        index_elements=[norms.c.id],
        set_={
            "title": insert.excluded.title,
            "text": insert.excluded.text,
            "source": insert.excluded.source,
        },
        where=norms.c.source == PLACEHOLDER_SOURCE,
    ).returning(norms.c.id)
    written = 0
    for start in range(0, len(rows), BATCH_ROWS):
        result = await session.execute(statement, rows[start : start + BATCH_ROWS])
        written += len(result.all())

    new = written - len(placeholders)
    return InsertCount(
        new=new, existing=len(rows) - written, replaced=len(placeholders)
    )
