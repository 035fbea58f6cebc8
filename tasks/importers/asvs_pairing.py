"""Pairing a locale's ASVS records with the English requirements they translate.

A record is paired only when its id, its chapter and, where ids collide, its
cwe and nist columns leave no doubt; every other record is refused with its
reason. The rules are listed in :mod:`tasks.importers.asvs`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from tasks.importers import examples
from tasks.importers.asvs_exports import Requirement

_ID = re.compile(r"(?P<prefix>\D*?)\s*(\d+)\s*\.\s*(\d+)\s*\.\s*(\d+)")


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
