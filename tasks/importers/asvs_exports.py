"""Reading the OWASP ASVS flat JSON exports: locale files and their records.

The exports are read as they are published: one file per locale, named
``asvs-<version>-<locale>.flat.json``, whose records name their fields
differently (each field is found under any of its known names, whatever their
case). See :mod:`tasks.importers.asvs` for what the import makes of them.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tasks.importers import CatalogueError

SOURCE_LOCALE = "en"
"""The locale of the export that defines the requirements."""

_FILE_NAME = re.compile(
    r"^asvs-(?P<version>\d+(?:\.\d+)*)-(?P<locale>[a-z]{2,3}(?:-[a-z0-9]+)*)"
    r"\.flat\.json$",
    re.IGNORECASE,
)
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
