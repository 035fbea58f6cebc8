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

import json
import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
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
    examples,
    fetch_ancestor_edges,
    find_lineage_cycles,
    format_cycle,
    ids_of_other_kind,
    insert_new_rows,
)
from tasks.importers.cwe import PLACEHOLDER_SOURCE, cwe_norm_id

logger = logging.getLogger(__name__)

ASVS_PUBLISHED_AT = datetime(2021, 10, 1, tzinfo=UTC)
"""The ``created_at`` of every imported requirement: 4.0.3's month of release."""
REVIEW_INTERVAL_DAYS = 365
SOURCE_LOCALE = "en"

_FILE_NAME = re.compile(
    r"^asvs-(?P<version>\d+(?:\.\d+)*)-(?P<locale>[a-z]{2,3}(?:-[a-z0-9]+)*)"
    r"\.flat\.json$",
    re.IGNORECASE,
)
_ID = re.compile(r"(?P<prefix>\D*?)\s*(\d+)\s*\.\s*(\d+)\s*\.\s*(\d+)")
# Each field of a record under the names the published exports use.
_FIELDS: Mapping[str, tuple[str, ...]] = {
    "id": ("req_id", "item"),
    "description": ("req_description", "description"),
    "chapter": ("chapter_id", "section"),
    "chapter_name": ("chapter_name", "name"),
    "section_name": ("section_name",),
    "cwe": ("cwe",),
    "nist": ("nist",),
}


@dataclass(frozen=True)
class Requirement:
    """One record of an ASVS export, its fields found whatever their names."""

    position: int
    raw_id: str
    description: str
    chapter: str = ""
    chapter_name: str = ""
    section_name: str = ""
    cwe: tuple[int, ...] = ()
    nist: tuple[str, ...] = ()

    @property
    def chapter_number(self) -> int | None:
        """The chapter's number (``V3`` and ``ت3`` are 3), if the record has one."""
        digits = re.search(r"\d+", unicodedata.normalize("NFKC", self.chapter))
        return int(digits.group()) if digits else None

    def columns(self) -> str:
        """The cwe and nist columns as a phrase for a report."""
        cwe = ", ".join(map(str, self.cwe)) or "none"
        return f"cwe {cwe}, nist {' / '.join(self.nist) or 'none'}"


@dataclass
class LocaleMatch:
    """One locale file's records paired with English requirement ids."""

    locale: str
    file_name: str
    records: int = 0
    matched: dict[str, Requirement] = field(default_factory=dict)
    unmatched: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def refuse(self, record: Requirement, reason: str) -> None:
        """List a record that is not paired, with where it is and why."""
        self.unmatched.append(
            f"{self.file_name} requirements[{record.position}] "
            f"(id {record.raw_id!r}): {reason}"
        )


def find_locale_files(directory: Path) -> dict[str, Path]:
    """The export of each locale in ``directory``, English included.

    Raises:
        CatalogueError: no English export, or exports of several ASVS versions.
    """
    files: dict[str, Path] = {}
    versions: set[str] = set()
    for path in sorted(directory.glob("*.json")):
        name = _FILE_NAME.match(path.name)
        if name is not None:
            files[name["locale"].lower()] = path
            versions.add(name["version"])
    if len(versions) > 1:
        msg = (
            f"{directory} holds exports of ASVS {', '.join(sorted(versions))}; "
            "import one version per directory"
        )
        raise CatalogueError(msg)
    if SOURCE_LOCALE not in files:
        msg = (
            f"{directory} has no English export (asvs-<version>-en.flat.json), "
            "which defines the requirements"
        )
        raise CatalogueError(msg)

    return files


def read_requirements(path: Path) -> tuple[list[Requirement], list[str]]:
    """The records of one export, and the records that lack an id or a text.

    Raises:
        CatalogueError: the file is not JSON, or holds no list of requirements.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        msg = f"{path} cannot be read as UTF-8 JSON: {exc}"
        raise CatalogueError(msg) from exc
    records = data.get("requirements") if isinstance(data, dict) else data
    if not isinstance(records, list):
        msg = (
            f"{path} holds no list of requirements (expected {{'requirements': [...]}})"
        )
        raise CatalogueError(msg)
    requirements, problems = [], []
    for position, record in enumerate(records):
        fields = _fields(record) if isinstance(record, dict) else {}
        if not fields.get("id") or not fields.get("description"):
            problems.append(
                f"{path.name} requirements[{position}]: no requirement id or text "
                f"(looked for {', '.join(_FIELDS['id'] + _FIELDS['description'])})"
            )
            continue
        requirements.append(_requirement(position, fields))

    return requirements, problems


def _fields(record: Mapping[str, Any]) -> dict[str, str]:
    by_name = {str(key).strip().lower(): value for key, value in record.items()}
    found = {}
    for name, aliases in _FIELDS.items():
        value = next((by_name[a] for a in aliases if a in by_name), None)
        found[name] = "" if value is None else str(value).strip()

    return found


def _requirement(position: int, fields: Mapping[str, str]) -> Requirement:
    nist = re.split(r"\s*[/,;]\s*", fields["nist"])
    return Requirement(
        position=position,
        raw_id=fields["id"],
        description=fields["description"],
        chapter=fields["chapter"],
        chapter_name=fields["chapter_name"],
        section_name=fields["section_name"],
        cwe=tuple(sorted({int(n) for n in re.findall(r"\d+", fields["cwe"])})),
        nist=tuple(sorted({section for section in nist if section})),
    )


def candidate_ids(raw_id: str) -> list[str]:
    """The English ids (``V1.2.3``) that an id as written may stand for.

    A right-to-left prefix (the Arabic export's) adds the reading with the parts
    in reverse order.
    """
    found = _ID.fullmatch(unicodedata.normalize("NFKC", raw_id).strip())
    if found is None:
        return []
    parts = [int(part) for part in found.groups()[1:]]
    readings = [parts]
    if any(unicodedata.bidirectional(c) in ("R", "AL") for c in found["prefix"]):
        readings.append(parts[::-1])

    return list(dict.fromkeys("V{}.{}.{}".format(*reading) for reading in readings))


def index_english(
    records: Sequence[Requirement], file_name: str
) -> tuple[dict[str, Requirement], list[str]]:
    """The English requirements by id, and the records whose id is unusable."""
    english: dict[str, Requirement] = {}
    problems = []
    for record in records:
        ids = candidate_ids(record.raw_id)
        where = f"{file_name} requirements[{record.position}] (id {record.raw_id!r})"
        if len(ids) != 1:
            problems.append(f"{where}: not a requirement id like V1.2.3")
        elif ids[0] in english:
            problems.append(f"{where}: {ids[0]} appears a second time")
        else:
            english[ids[0]] = record

    return english, problems


def match_locale(
    locale: str,
    file_name: str,
    records: Sequence[Requirement],
    english: Mapping[str, Requirement],
) -> LocaleMatch:
    """Pair one locale file's records with English requirements, or say why not."""
    match = LocaleMatch(locale, file_name, records=len(records))
    claims: dict[str, list[Requirement]] = defaultdict(list)
    for record in records:
        english_id, reason = _resolve(record, english)
        if english_id is None:
            match.refuse(record, reason + _position_hint(record, english))
        else:
            claims[english_id].append(record)
    _settle_shared_ids(match, claims, english)
    _refuse_repeated_texts(match, english)
    _note_suspicious(match, records, english)

    return match


def _resolve(
    record: Requirement, english: Mapping[str, Requirement]
) -> tuple[str | None, str]:
    """The English id a record names, or ``None`` and the reason."""
    readings = candidate_ids(record.raw_id)
    if not readings:
        return None, "not a requirement id like V1.2.3"
    known = [r for r in readings if r in english]
    if not known:
        return None, f"read as {' or '.join(readings)}, which the English file lacks"
    chapter = record.chapter_number
    in_chapter = [r for r in known if chapter in (None, _chapter_of(r))]
    if not in_chapter:
        return None, (
            f"read as {' or '.join(known)}, outside the record's chapter "
            f"{record.chapter!r}"
        )
    if len(in_chapter) > 1:
        return None, f"read as {' or '.join(in_chapter)}; nothing tells which"

    return in_chapter[0], ""


def _chapter_of(english_id: str) -> int:
    return int(english_id[1:].split(".")[0])


def _position_hint(record: Requirement, english: Mapping[str, Requirement]) -> str:
    at_position = [i for i, r in english.items() if r.position == record.position]
    if not at_position:
        return ""
    return (
        f" (the English requirement at the same position is {at_position[0]}; "
        "not paired by position alone)"
    )


def _columns_agree(record: Requirement, source: Requirement) -> bool:
    return record.cwe == source.cwe and record.nist == source.nist


def _settle_shared_ids(
    match: LocaleMatch,
    claims: Mapping[str, list[Requirement]],
    english: Mapping[str, Requirement],
) -> None:
    """Give each English id to its one record, or to the one whose columns agree."""
    for english_id, group in claims.items():
        agreeing = [r for r in group if _columns_agree(r, english[english_id])]
        if len(group) == 1 or len(agreeing) == 1:
            winner = group[0] if len(group) == 1 else agreeing[0]
            match.matched[english_id] = winner
            for record in group:
                if record is not winner:
                    match.refuse(
                        record,
                        f"read as {english_id}, like requirements[{winner.position}] "
                        f"whose columns agree with {english_id}'s "
                        f"({english[english_id].columns()}) while this record's "
                        f"({record.columns()}) do not"
                        + _position_hint(record, english),
                    )
            continue
        positions = ", ".join(f"requirements[{r.position}]" for r in group)
        for record in group:
            match.refuse(
                record,
                f"{positions} all read as {english_id} and their cwe and nist "
                "columns do not single one out",
            )


def _text_key(text: str) -> str:
    return " ".join(unicodedata.normalize("NFKC", text).split()).casefold()


def _refuse_repeated_texts(
    match: LocaleMatch, english: Mapping[str, Requirement]
) -> None:
    """Keep a text repeated over different requirements only for the first one."""
    by_text: dict[str, list[str]] = defaultdict(list)
    for english_id, record in sorted(
        match.matched.items(), key=lambda i: i[1].position
    ):
        by_text[_text_key(record.description)].append(english_id)
    for english_ids in by_text.values():
        first = english_ids[0]
        for english_id in english_ids[1:]:
            source_text = _text_key(english[english_id].description)
            if source_text == _text_key(english[first].description):
                continue
            record = match.matched.pop(english_id)
            first_position = match.matched[first].position
            match.refuse(
                record,
                f"read as {english_id}, but its text repeats that of "
                f"requirements[{first_position}] ({first}), whose English text "
                "differs; a text can translate only one of them",
            )


def _note_suspicious(
    match: LocaleMatch,
    records: Sequence[Requirement],
    english: Mapping[str, Requirement],
) -> None:
    """Note what was paired all the same but deserves a look."""
    written: dict[str, list[Requirement]] = defaultdict(list)
    for record in records:
        written[record.raw_id].append(record)
    paired = {r.position: english_id for english_id, r in match.matched.items()}
    for raw_id, group in written.items():
        if len(group) > 1:
            outcomes = ", ".join(
                f"requirements[{r.position}] as {paired.get(r.position, 'nothing')}"
                for r in group
            )
            match.notes.append(
                f"{match.file_name}: id {raw_id!r} is written {len(group)} times; "
                f"paired {outcomes}"
            )
    reversed_ids = []
    for english_id, record in match.matched.items():
        source = english[english_id]
        where = f"{match.file_name} requirements[{record.position}] ({english_id})"
        if not _columns_agree(record, source):
            match.notes.append(
                f"{where}: its {record.columns()} differ from the English "
                f"{source.columns()}; paired by its id"
            )
        if _text_key(record.description) == _text_key(source.description):
            match.notes.append(f"{where}: the text is the English one, untranslated")
        if candidate_ids(record.raw_id)[0] != english_id:
            reversed_ids.append(f"{record.raw_id!r} for {english_id}")
    if reversed_ids:
        match.notes.append(
            f"{match.file_name}: {len(reversed_ids)} ids are written with their parts "
            f"in reverse order, e.g. {examples(reversed_ids)}"
        )
    missing = [i for i in english if i not in match.matched]
    if missing:
        match.notes.append(
            f"{match.locale}: no translation for {examples(missing)} "
            f"({len(missing)} in all)"
        )


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
