"""Import the OWASP ASVS flat JSON exports: English rules, translations, lineage.

A directory holds one ``asvs-<version>-<locale>.flat.json`` file per locale. The
English file defines the rules: each requirement becomes the rule
``ASVS-<req_id>`` (``ASVS-V3.2.1``) with title ``<req_id> <section name>``, text
the requirement, locale ``en``, version 1, maturity ``stable``, status ``active``,
effect ``deny``, scope ``<chapter id> <chapter name>``, a 365-day review interval,
no legal hold, source ``asvs``, and as required locales every other locale found.
Its ``created_at`` is the fixed instant :data:`ASVS_PUBLISHED_AT` (4.0.3 was
published in October 2021), so that a re-import writes the same rows and the age
the jobs compute is the standard's, not the import's. A requirement the standard
deleted (its text starts ``[DELETED``) is imported as ``deprecated`` at that
instant instead of ``active``, so that the jobs do not score, evaluate or review a
requirement that no longer exists.

Lineage: the ``cwe`` column makes the rule derive from the norm ``CWE-<n>``, the
``nist`` column (SP 800-63 sections separated by ``/``) from the norms
``NIST-800-63-<section>``, which this import creates (title ``NIST SP 800-63
§<section>``, source ``nist``) since no catalogue defines them. Some cited CWE ids
are categories that a CWE view does not hold: for each cited id that is not
stored as a norm, a placeholder norm ``CWE-<n>`` is created (source ``asvs-ref``,
title ``CWE-<n> (cited by ASVS, not in the imported view)``) and listed in the
report, so that the edge exists; a later CWE import replaces a placeholder with
the weakness when its view has it (see :mod:`tasks.importers.cwe`).

Translations: every other file's requirements attach, with ``source_version`` 1, to
the English requirement with the same id. The exports are not uniform and are read
as they are published:

- field names differ (the Spanish export has ``Section``, holding the chapter id,
  ``Name``, ``Item``, ``Description``, ``L1``-``L3``, ``CWE``, ``NIST``); each field
  is found under any of its known names, whatever their case;
- ids are written differently: the Arabic export writes them with an Arabic letter
  and mostly with their parts in reverse order (``ق2.1.1`` for V1.1.2), but not
  always (``ق5.5.1`` is V5.5.1), so for a right-to-left prefix both readings are
  candidates and the record's own chapter decides between them.

No translation is ever paired with the wrong requirement; a record that cannot be
paired for sure is left out and listed with its file, position and reason:

1. An id is normalised (Unicode NFKC, any script's digits, the prefix dropped)
   into candidate English ids; those that the English file has and that lie in
   the record's chapter remain. None, or more than one: not paired.
2. Several records of one file that name one requirement: the one whose ``cwe``
   and ``nist`` columns agree with the English requirement's keeps it; if that
   does not single one out, none is paired.
3. One text given to requirements whose English texts differ can translate only
   one of them: the first in file order keeps it and the later ones are not
   paired (the Arabic export repeats some texts on the next requirement).

Suspicious records that are paired all the same (an id written twice, columns
that disagree with the English ones, a text left in English) are listed in the
report's notes. The whole directory is read before the first write, and the
writes happen in the caller's transaction; a second import adds nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tasks.importers import (
    CatalogueError,
    ImportReport,
    InsertCount,
    among,
    domain_table,
    fetch_ancestor_edges,
    find_lineage_cycles,
    format_cycle,
    ids_of_other_kind,
    insert_new_rows,
)
from tasks.importers.asvs_exports import (
    SOURCE_LOCALE,
    Requirement,
    find_locale_files,
    read_requirements,
)
from tasks.importers.asvs_pairing import (
    LocaleMatch,
    candidate_ids,
    index_english,
    match_locale,
)
from tasks.importers.cwe import PLACEHOLDER_SOURCE, cwe_norm_id

__all__ = [
    "ASVS_PUBLISHED_AT",
    "REVIEW_INTERVAL_DAYS",
    "SOURCE_LOCALE",
    "LocaleMatch",
    "Requirement",
    "candidate_ids",
    "find_locale_files",
    "import_asvs",
    "index_english",
    "match_locale",
    "read_requirements",
]

logger = logging.getLogger(__name__)

ASVS_PUBLISHED_AT = datetime(2021, 10, 1, tzinfo=UTC)
"""The ``created_at`` of every imported requirement: 4.0.3's month of release."""
REVIEW_INTERVAL_DAYS = 365


async def import_asvs(session: AsyncSession, directory: Path) -> ImportReport:
    """Import a directory of ASVS flat JSON exports (see the module's docstring).

    Args:
        session: writes happen in its transaction, which the caller commits.
        directory: holds ``asvs-<version>-<locale>.flat.json``, English included.

    Raises:
        CatalogueError: no usable English export, or lineage that would close a
            cycle; nothing is written then.
    """
    files = find_locale_files(directory)
    records, problems = read_requirements(files[SOURCE_LOCALE])
    english, unusable = index_english(records, files[SOURCE_LOCALE].name)
    report = ImportReport(source="asvs", unmatched=problems + unusable)
    matches = _match_locales(files, english, report)
    plan = await _plan(session, english, matches)
    taken = await ids_of_other_kind(
        session, [*plan.nist_norms, *plan.placeholders], plan.rules
    )
    for node_id in sorted(taken):
        kind = "norm" if node_id in plan.rules else "rule"
        report.unmatched.append(
            f"{node_id}: the id is already a {kind}'s; not imported"
        )
    plan.drop(taken)
    await _refuse_cycles(session, plan.edges, directory)

    await _write(session, plan, report)
    _summarise(report, matches, plan.placeholders)
    logger.info(
        "imported %d requirements (%d new) with %d translations (%d new) from %s",
        len(plan.rules),
        report["rules"].new,
        sum(len(rows) for rows in plan.translations.values()),
        report["translations"].new,
        directory,
        extra={"event": "import.asvs"},
    )

    return report


@dataclass
class _Plan:
    """The rows an ASVS import offers, built before anything is written."""

    nist_norms: dict[str, dict[str, Any]]
    placeholders: dict[str, dict[str, Any]]
    rules: dict[str, dict[str, Any]]
    translations: dict[str, list[dict[str, Any]]]
    edges: set[tuple[str, str]]

    def drop(self, node_ids: set[str]) -> None:
        """Leave out these norms and rules, with their translations and edges."""
        for rows in (self.nist_norms, self.placeholders, self.rules):
            for node_id in node_ids.intersection(rows):
                del rows[node_id]
        for locale, translations in self.translations.items():
            self.translations[locale] = [
                t for t in translations if t["rule_id"] not in node_ids
            ]
        self.edges = {e for e in self.edges if not node_ids.intersection(e)}


async def _plan(
    session: AsyncSession,
    english: Mapping[str, Requirement],
    matches: Sequence[LocaleMatch],
) -> _Plan:
    locales = sorted(m.locale for m in matches)
    nist_norms = {n["id"]: n for r in english.values() for n in _nist_norms(r)}
    edges = {
        (f"ASVS-{english_id}", parent)
        for english_id, record in english.items()
        for parent in [
            *map(cwe_norm_id, record.cwe),
            *(_nist_id(s) for s in record.nist),
        ]
    }
    cited = {parent for _, parent in edges} - set(nist_norms)

    return _Plan(
        nist_norms=nist_norms,
        placeholders=await _placeholder_norms(session, cited),
        rules={f"ASVS-{i}": _rule_row(i, r, locales) for i, r in english.items()},
        translations={
            m.locale: [
                {
                    "rule_id": f"ASVS-{english_id}",
                    "locale": m.locale,
                    "text": record.description,
                    "source_version": 1,
                }
                for english_id, record in m.matched.items()
            ]
            for m in matches
        },
        edges=edges,
    )


def _match_locales(
    files: Mapping[str, Path], english: Mapping[str, Requirement], report: ImportReport
) -> list[LocaleMatch]:
    matches = []
    for locale, path in sorted(files.items()):
        if locale == SOURCE_LOCALE:
            continue
        try:
            records, problems = read_requirements(path)
        except CatalogueError as exc:
            report.unmatched.append(f"{exc}; locale {locale} not imported")
            continue
        match = match_locale(locale, path.name, records, english)
        match.unmatched[:0] = problems
        matches.append(match)

    return matches


def _rule_row(
    english_id: str, record: Requirement, required_locales: list[str]
) -> dict[str, Any]:
    deleted = record.description.upper().startswith("[DELETED")
    return {
        "id": f"ASVS-{english_id}",
        "title": f"{english_id} {record.section_name or record.chapter_name}".strip(),
        "text": record.description,
        "locale": SOURCE_LOCALE,
        "version": 1,
        "maturity": "stable",
        "status": "deprecated" if deleted else "active",
        "created_at": ASVS_PUBLISHED_AT,
        "deprecated_at": ASVS_PUBLISHED_AT if deleted else None,
        "review_interval_days": REVIEW_INTERVAL_DAYS,
        "last_reviewed_at": None,
        "legal_hold": False,
        "scope": f"{record.chapter} {record.chapter_name}".strip()[:200],
        "effect": "deny",
        "pattern": None,
        "required_locales": required_locales,
        "examples": [],
        "source": "asvs",
    }


def _nist_id(section: str) -> str:
    return f"NIST-800-63-{section}"


def _nist_norms(record: Requirement) -> Iterable[dict[str, Any]]:
    for section in record.nist:
        yield {
            "id": _nist_id(section),
            "title": f"NIST SP 800-63 §{section}",
            "text": f"Section {section} of NIST Special Publication 800-63, "
            "Digital Identity Guidelines, as cited by OWASP ASVS.",
            "version": 1,
            "source": "nist",
        }


async def _placeholder_norms(
    session: AsyncSession, cited: set[str]
) -> dict[str, dict[str, Any]]:
    """A placeholder for each cited CWE id that no imported weakness holds."""
    norms = domain_table("norms")
    real = set(
        await session.scalars(
            select(norms.c.id).where(
                among(norms.c.id, cited), norms.c.source != PLACEHOLDER_SOURCE
            )
        )
    )
    return {
        norm_id: {
            "id": norm_id,
            "title": f"{norm_id} (cited by ASVS, not in the imported view)",
            "text": f"{norm_id} is cited by OWASP ASVS but no imported CWE view "
            "holds it (it may be a category).",
            "version": 1,
            "source": PLACEHOLDER_SOURCE,
        }
        for norm_id in sorted(cited - real, key=lambda i: int(i.split("-")[1]))
    }


async def _refuse_cycles(
    session: AsyncSession, edges: set[tuple[str, str]], directory: Path
) -> None:
    stored = await fetch_ancestor_edges(session, (p for _, p in edges))
    cycles = find_lineage_cycles(edges, stored)
    if cycles:
        found = "; ".join(format_cycle(cycle, closed) for cycle, closed in cycles)
        msg = f"{directory} was not imported: its lineage would close a {found}"
        raise CatalogueError(msg)


async def _write(session: AsyncSession, plan: _Plan, report: ImportReport) -> None:
    """Insert norms, rules, translations and lineage, counting what was new."""
    norms = domain_table("norms")
    counts = report.counts
    counts["nist norms"] = await insert_new_rows(
        session, norms, list(plan.nist_norms.values())
    )
    counts["cwe placeholders"] = await insert_new_rows(
        session, norms, list(plan.placeholders.values())
    )
    counts["rules"] = await insert_new_rows(
        session, domain_table("rules"), list(plan.rules.values())
    )
    counts["translations"] = InsertCount()
    for locale, rows in plan.translations.items():
        count = await insert_new_rows(session, domain_table("translations"), rows)
        counts[f"translations[{locale}]"] = count
        counts["translations"] += count
    counts["lineage"] = await insert_new_rows(
        session,
        domain_table("lineage"),
        [
            {"child_id": c, "parent_id": p, "child_kind": "rule", "parent_kind": "norm"}
            for c, p in sorted(plan.edges)
        ],
    )


def _summarise(
    report: ImportReport,
    matches: Sequence[LocaleMatch],
    placeholders: Mapping[str, object],
) -> None:
    for match in matches:
        report.notes.append(
            f"{match.locale}: {len(match.matched)} of {match.records} records attached "
            f"as translations, {len(match.unmatched)} not"
        )
    if placeholders:
        report.notes.append(
            f"{len(placeholders)} cited CWE ids are not stored as weaknesses, so "
            f"placeholder norms stand for them: {', '.join(placeholders)}"
        )
    for match in matches:
        report.unmatched += match.unmatched
        report.notes += match.notes
