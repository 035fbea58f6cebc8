"""Importing the public catalogues: CWE weaknesses and OWASP ASVS requirements."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from orchestrator.db import transaction
from tasks.importers import CatalogueError, ImportReport
from tasks.importers.asvs import (
    Requirement,
    candidate_ids,
    import_asvs,
    index_english,
    match_locale,
)
from tasks.importers.cwe import import_cwe, parse_related_weaknesses

CWE_FILE = Path("cwe") / "cwe-4.14-research-view-1000.csv"
ASVS_DIR = Path("asvs")
# What the published 4.0.3 exports yield. Arabic: V5.3.10 is written as a second
# 'ق1.3.5' and six records repeat the text of the requirement before them. French:
# V13.1.2 repeats the text of V1.4.3 while the English texts differ.
TRANSLATIONS_PER_LOCALE = {
    "ar": 279,
    "de": 286,
    "es": 286,
    "fr": 285,
    "it": 286,
    "pt": 286,
    "ru": 286,
    "zh-cn": 286,
}
DESCENDANTS_OF_CWE_284 = """
    WITH RECURSIVE below(id) AS (
        SELECT CAST('CWE-284' AS varchar)
        UNION
        SELECT l.child_id FROM lineage l JOIN below ON l.parent_id = below.id
    )
    SELECT id FROM below
"""


async def _import_cwe(
    sessions: async_sessionmaker[AsyncSession], path: Path
) -> ImportReport:
    async with transaction(sessions) as session:
        return await import_cwe(session, path)


async def _import_asvs(
    sessions: async_sessionmaker[AsyncSession], path: Path
) -> ImportReport:
    async with transaction(sessions) as session:
        return await import_asvs(session, path)


async def _scalar(sessions: async_sessionmaker[AsyncSession], sql: str) -> Any:
    async with sessions() as session:
        return (await session.execute(text(sql))).scalar_one()


@pytest.mark.corpus
async def test_import_cwe_reads_view_1000_and_is_idempotent(
    sessions: async_sessionmaker[AsyncSession], corpus_dir: Path
) -> None:
    """938 weaknesses and their 1,076 ChildOf edges are imported once, then found."""
    first = await _import_cwe(sessions, corpus_dir / CWE_FILE)
    second = await _import_cwe(sessions, corpus_dir / CWE_FILE)

    assert (first["norms"].new, first["lineage"].new) == (938, 1076)
    assert (second["norms"].new, second["norms"].existing) == (0, 938)
    assert (second["lineage"].new, second["lineage"].existing) == (0, 1076)
    assert first.unmatched == []
    assert (
        await _scalar(sessions, "SELECT count(*) FROM norms WHERE source = 'cwe'")
        == 938
    )
    title = await _scalar(sessions, "SELECT title FROM norms WHERE id = 'CWE-284'")
    assert title == "Improper Access Control"
    kinds = await _scalar(
        sessions,
        "SELECT count(*) FROM lineage WHERE (child_kind, parent_kind) <> ('norm', 'norm')",
    )
    assert kinds == 0


async def test_import_cwe_reports_parents_missing_from_the_file(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A ChildOf parent outside the file is reported and its edge skipped, not invented."""
    path = tmp_path / "view.csv"
    with path.open("w", newline="", encoding="utf-8") as stream:
        writer = csv.writer(stream)
        writer.writerow(
            [
                "CWE-ID",
                "Name",
                "Weakness Abstraction",
                "Status",
                "Description",
                "Related Weaknesses",
            ]
        )
        writer.writerow(["1", "Top", "Pillar", "Draft", "A top weakness.", ""])
        writer.writerow(
            [
                "2",
                "Middle",
                "Class",
                "Draft",
                "A weakness under two parents.",
                "::NATURE:ChildOf:CWE ID:1:VIEW ID:1000:ORDINAL:Primary::"
                "NATURE:ChildOf:CWE ID:77777:VIEW ID:1000::"
                "NATURE:ChildOf:CWE ID:1:VIEW ID:699::NATURE:PeerOf:CWE ID:1:VIEW ID:1000::",
            ]
        )
        writer.writerow(["x", "Broken", "Base", "Draft", "No number.", ""])

    report = await _import_cwe(sessions, path)

    assert (report["norms"].new, report["lineage"].new) == (2, 1)
    assert report.unmatched == [
        "view.csv row 3: CWE-ID 'x' is not a number",
        "CWE-2 ChildOf CWE-77777: CWE-77777 is neither in the file nor stored; edge skipped",
    ]
    assert any(
        note.startswith("1 ChildOf edges name 1 parents") for note in report.notes
    )
    assert "ignored: 1 ChildOf entries of other views than 1000" in report.notes
    assert (
        await _scalar(sessions, "SELECT count(*) FROM norms WHERE id = 'CWE-77777'")
        == 0
    )


def test_parse_related_weaknesses_splits_packed_entries() -> None:
    """MITRE's packed field becomes one key-value dict per entry."""
    packed = "::NATURE:ChildOf:CWE ID:319:VIEW ID:1000:ORDINAL:Primary::NATURE:PeerOf:CWE ID:5::"

    assert parse_related_weaknesses(packed) == [
        {"NATURE": "ChildOf", "CWE ID": "319", "VIEW ID": "1000", "ORDINAL": "Primary"},
        {"NATURE": "PeerOf", "CWE ID": "5"},
    ]
    with pytest.raises(ValueError, match="does not alternate keys and values"):
        parse_related_weaknesses("::NATURE:ChildOf:CWE ID::")


async def test_import_cwe_refuses_a_file_without_its_columns(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A CSV without the export's columns is refused as a whole."""
    path = tmp_path / "other.csv"
    path.write_text("id,name\n1,x\n", encoding="utf-8")

    with pytest.raises(CatalogueError, match="has no column 'CWE-ID'"):
        await _import_cwe(sessions, path)


@pytest.mark.corpus
async def test_import_asvs_attaches_every_locale(
    sessions: async_sessionmaker[AsyncSession], corpus_dir: Path
) -> None:
    """286 English rules; each locale's matched records attach as translations."""
    report = await _import_asvs(sessions, corpus_dir / ASVS_DIR)

    assert report["rules"].new == 286
    assert {
        locale: report[f"translations[{locale}]"].new
        for locale in TRANSLATIONS_PER_LOCALE
    } == TRANSLATIONS_PER_LOCALE
    async with sessions() as session:
        stored: dict[str, int] = dict(
            (
                await session.execute(
                    text("SELECT locale, count(*) FROM translations GROUP BY 1")
                )
            ).all()
        )
    assert stored == TRANSLATIONS_PER_LOCALE
    assert len(report.unmatched) == 8
    assert all(entry.startswith("asvs-4.0.3-") for entry in report.unmatched)
    assert sum("asvs-4.0.3-ar.flat.json" in e for e in report.unmatched) == 7
    assert any(
        e.startswith(
            "asvs-4.0.3-ar.flat.json requirements[151] (id 'ق1.3.5'): read as V5.3.1"
        )
        and "V5.3.10" in e
        for e in report.unmatched
    )


@pytest.mark.corpus
async def test_import_asvs_pairs_arabic_ids_by_chapter(
    sessions: async_sessionmaker[AsyncSession], corpus_dir: Path
) -> None:
    """Reversed and literal Arabic ids reach the right requirement, checked on the file."""
    arabic = json.loads(
        (corpus_dir / ASVS_DIR / "asvs-4.0.3-ar.flat.json").read_text("utf-8")
    )
    spanish = json.loads(
        (corpus_dir / ASVS_DIR / "asvs-4.0.3-es.flat.json").read_text("utf-8")
    )

    await _import_asvs(sessions, corpus_dir / ASVS_DIR)

    async with sessions() as session:
        texts: dict[str, str] = dict(
            (
                await session.execute(
                    text(
                        "SELECT rule_id || '/' || locale, text FROM translations "
                        "WHERE locale IN ('ar', 'es')"
                    )
                )
            ).all()
        )
    records = arabic["requirements"]
    assert texts["ASVS-V1.1.2/ar"] == records[1]["req_description"]
    assert texts["ASVS-V2.5.5/ar"] == records[73]["req_description"]
    assert texts["ASVS-V5.5.2/ar"] == records[156]["req_description"]
    assert texts["ASVS-V5.3.1/ar"] == records[142]["req_description"]
    assert "ASVS-V5.3.10/ar" not in texts
    assert "ASVS-V2.7.4/ar" not in texts
    assert texts["ASVS-V3.2.1/es"] == spanish["requirements"][100]["Description"]


@pytest.mark.corpus
async def test_import_asvs_rules_and_nist_norms(
    sessions: async_sessionmaker[AsyncSession], corpus_dir: Path
) -> None:
    """Rules carry the documented fields; NIST sections become norms."""
    await _import_asvs(sessions, corpus_dir / ASVS_DIR)

    async with sessions() as session:
        rule = (
            await session.execute(text("SELECT * FROM rules WHERE id = 'ASVS-V3.2.1'"))
        ).one()
        nist = (
            await session.execute(
                text("SELECT title, source FROM norms WHERE id = 'NIST-800-63-5.1.1.2'")
            )
        ).one()
        deprecated = (
            await session.execute(
                text("SELECT count(*) FROM rules WHERE status = 'deprecated'")
            )
        ).scalar_one()
    assert (rule.locale, rule.version, rule.maturity, rule.status) == (
        "en",
        1,
        "stable",
        "active",
    )
    assert (rule.effect, rule.legal_hold, rule.source) == ("deny", False, "asvs")
    assert rule.scope == "V3 Session Management"
    assert rule.required_locales == sorted(TRANSLATIONS_PER_LOCALE)
    assert rule.created_at.isoformat() == "2021-10-01T00:00:00+00:00"
    assert tuple(nist) == ("NIST SP 800-63 §5.1.1.2", "nist")
    assert deprecated == 8


@pytest.mark.corpus
async def test_import_asvs_is_idempotent(
    sessions: async_sessionmaker[AsyncSession], corpus_dir: Path
) -> None:
    """A second ASVS import adds nothing and reports everything as existing."""
    first = await _import_asvs(sessions, corpus_dir / ASVS_DIR)
    second = await _import_asvs(sessions, corpus_dir / ASVS_DIR)

    assert all(count.new == 0 for count in second.counts.values())
    assert {k: c.existing for k, c in second.counts.items()} == {
        k: c.new for k, c in first.counts.items()
    }


@pytest.mark.corpus
@pytest.mark.parametrize("cwe_first", [True, False], ids=["cwe-first", "asvs-first"])
async def test_asvs_lineage_reaches_descendants_of_cwe_284(
    sessions: async_sessionmaker[AsyncSession], corpus_dir: Path, cwe_first: bool
) -> None:
    """Whatever the import order, rules hang below CWE-284 through the weakness tree."""
    if cwe_first:
        await _import_cwe(sessions, corpus_dir / CWE_FILE)
        asvs = await _import_asvs(sessions, corpus_dir / ASVS_DIR)
        assert asvs["cwe placeholders"].new == 11
    else:
        asvs = await _import_asvs(sessions, corpus_dir / ASVS_DIR)
        cwe = await _import_cwe(sessions, corpus_dir / CWE_FILE)
        assert asvs["cwe placeholders"].new == 128
        assert (cwe["norms"].new, cwe["norms"].replaced) == (821, 117)

    async with sessions() as session:
        below = set((await session.execute(text(DESCENDANTS_OF_CWE_284))).scalars())
        placeholders = (
            await session.execute(
                text("SELECT id FROM norms WHERE source = 'asvs-ref'")
            )
        ).scalars()
        sorted_placeholders = sorted(placeholders, key=lambda i: int(i[4:]))
    rules = {node for node in below if node.startswith("ASVS-")}
    assert {"ASVS-V1.4.4", "ASVS-V4.1.3", "ASVS-V4.2.1"} <= rules
    assert len(rules) == 77
    assert sorted_placeholders == [
        f"CWE-{n}" for n in (16, 19, 255, 265, 275, 310, 320, 1002, 1009, 1026, 1029)
    ]


def _requirement(position: int, raw_id: str, text_: str, **fields: Any) -> Requirement:
    return Requirement(position=position, raw_id=raw_id, description=text_, **fields)


def test_candidate_ids_reads_both_orders_only_for_right_to_left_prefixes() -> None:
    """Latin ids have one reading; an Arabic-prefixed id also reads reversed."""
    assert candidate_ids("V1.2.3") == ["V1.2.3"]
    assert candidate_ids(" v10.2.1 ") == ["V10.2.1"]
    assert candidate_ids("ق2.1.1") == ["V2.1.1", "V1.1.2"]
    assert candidate_ids("ق١.٢.٣") == ["V1.2.3", "V3.2.1"]
    assert candidate_ids("1.2") == []


def test_match_locale_reports_what_it_cannot_pair() -> None:
    """Unknown, unreadable, shared and repeated-text records are refused with reasons."""
    english, problems = index_english(
        [
            _requirement(0, "V1.1.1", "One.", chapter="V1", cwe=(1,)),
            _requirement(1, "V1.1.2", "Two.", chapter="V1", cwe=(2,)),
            _requirement(2, "V1.1.3", "Three.", chapter="V1"),
            _requirement(3, "V2.1.1", "Four.", chapter="V2"),
        ],
        "en.json",
    )
    records = [
        _requirement(0, "V1.1.1", "Eins.", chapter="V1", cwe=(1,)),
        _requirement(1, "V1.1.1", "Zwei.", chapter="V1", cwe=(2,)),
        _requirement(2, "V1.1.3", "Eins.", chapter="V1"),
        _requirement(3, "V9.9.9", "Neun.", chapter="V9"),
        _requirement(4, "item four", "Vier.", chapter="V2"),
    ]

    match = match_locale("de", "de.json", records, english)

    assert problems == []
    assert list(match.matched) == ["V1.1.1"]
    reasons = {
        entry.split(": ", 1)[0]: entry.split(": ", 1)[1] for entry in match.unmatched
    }
    assert reasons["de.json requirements[1] (id 'V1.1.1')"].startswith(
        "read as V1.1.1, like requirements[0] whose columns agree"
    )
    assert "V1.1.2" in reasons["de.json requirements[1] (id 'V1.1.1')"]
    assert (
        "text repeats that of requirements[0]"
        in reasons["de.json requirements[2] (id 'V1.1.3')"]
    )
    assert reasons["de.json requirements[3] (id 'V9.9.9')"].startswith(
        "read as V9.9.9, which the English file lacks"
    )
    assert reasons["de.json requirements[4] (id 'item four')"].startswith(
        "not a requirement id like V1.2.3"
    )
    assert any("'V1.1.1' is written 2 times" in note for note in match.notes)


async def test_import_asvs_reads_alternative_field_names(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """A locale export with other field names still attaches by id."""
    english = {
        "requirements": [
            {
                "chapter_id": "V1",
                "chapter_name": "Chapter",
                "section_id": "V1.1",
                "section_name": "Section",
                "req_id": "V1.1.1",
                "req_description": "Verify one thing.",
                "cwe": "284",
                "nist": "5.1.1.2 / A.3",
            }
        ]
    }
    other = {
        "requirements": [
            {
                "Section": "V1",
                "Name": "Capítulo",
                "Item": "V1.1.1",
                "Description": "Verifique.",
            },
            {"Section": "V1", "Item": "", "Description": "Sin id."},
        ]
    }
    (tmp_path / "asvs-9.9-en.flat.json").write_text(
        json.dumps(english), encoding="utf-8"
    )
    (tmp_path / "asvs-9.9-es.flat.json").write_text(json.dumps(other), encoding="utf-8")

    report = await _import_asvs(sessions, tmp_path)

    assert report["translations[es]"].new == 1
    assert report["nist norms"].new == 2
    assert report["lineage"].new == 3
    assert report.unmatched[0].startswith(
        "asvs-9.9-es.flat.json requirements[1]: no requirement id"
    )
    assert len(report.unmatched) == 1


async def test_import_asvs_needs_the_english_export(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Without the English file there is nothing to attach translations to."""
    (tmp_path / "asvs-4.0.3-de.flat.json").write_text(
        '{"requirements": []}', encoding="utf-8"
    )

    with pytest.raises(CatalogueError, match="has no English export"):
        await _import_asvs(sessions, tmp_path)
