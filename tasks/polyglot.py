"""What a translation must carry over unchanged from its source text.

:func:`extract_markers` finds seven kinds of marker in a text, each reduced to a
canonical value so that the same marker written the way another locale writes it
compares equal; :func:`compare_markers` names what a translation lost or gained.
Pure functions: no I/O, no model.

Markers, in the order they are taken out of the text (each match is removed, so
a URL's digits never count as numbers):

- ``code``: inline code between backticks, compared as written (trimmed).
- ``urls``: ``http``, ``https`` and ``ftp`` URLs of ASCII characters; the scheme
  and host are case-folded, trailing punctuation and an unbalanced ``)`` dropped.
- ``placeholders``: ``{name}``, ``{0}`` and ``{{name}}``, compared by name.
- ``references``: rule and norm ids: ``CWE-79``, ``CAPEC-66``, ``CVE-2021-44228``,
  ``ASVS-V1.2.3``, ``NIST-800-63-5.1.1.2``, repository ids of two or more
  upper-case groups and a number (``RR-SEC-001``), ``RFC 6749``, NIST special
  publications (``NIST SP 800-57`` as ``SP 800-57``), ASVS requirement and section
  ids with an upper-case ``V`` (``V1.2.3``, ``V1.2``, also ``V.3.4``), and bare
  section numbers of three or more dotted parts (``4.1.3``), which ASVS texts use
  for cross references. A bare two-part ``3.4`` is read as a number: it cannot be
  told from a decimal.
- ``percentages``: a number with ``%`` (full-width and Arabic signs included) or a
  word for per cent in any supported locale; the value is the number.
- ``durations``: a number and a time unit of the text's locale or English (the
  table is :data:`tasks.polyglot_units.DURATION_UNITS`), compared as an exact
  length of time: ``24 hours`` equals ``1 day``, ``30 Tage`` equals ``30 days``.
  A month is a twelfth of a year of 365.2425 days, so ``30 days`` is not
  ``1 month`` but ``12 months`` is ``1 year``. A qualifier may stand between
  number and unit (``30 business days``, ``les 30 derniers jours``). Numbers
  glued to ``ms``, ``s``, ``h`` or ``d`` (``500ms``, ``24h``) are durations in
  any locale.
- ``numbers``: every other numeral.

Numbers are read whatever the locale's conventions: digits of any script (Arabic-
Indic, full-width) count as digits; ``1,000``, ``1.000``, ``1 000`` (with a no-break
or thin space anywhere, a plain space in ``fr`` and ``ru``) and ``1'000`` are one
thousand; ``1,5`` and ``1.5`` are one and a half; ``1.000,5`` and ``1,000.5`` are
both 1000.5; in ``zh`` and ``ja`` ``10万`` is 100000. A single separator followed
by exactly three digits is read as grouping (``2.500`` is 2500), a leading ``0``
excepted (``0.125``). A numeral glued to a preceding lower-case word or to one
capital (``sha256``, ``L1``, ``C6``) belongs to a name and is not a number, while
one glued to an acronym of two or more capitals (``HTML5``, ``MD5``) is, so that
``HTML5`` and ``HTML 5`` agree. Numbers written out in words are not recognised.

Comparison is by sets: a translation that mentions a value twice, or once where
the source has it twice, carries it. Whole numbers up to :data:`SMALL_NUMBER`
(10) that only the translation has are not a difference on their own: languages
write small numbers as words or as digits by habit ("a second approver" is
"2人目", "six digits" is "6 位数字"), so they are reported only beside a number
the translation lost or changed. A value that changed only category (``3.4``
as a number in one text, ``V.3.4`` as a section in the other; ``ASVS-V1.2.3``
against ``V1.2.3``) counts as carried. In right-to-left locales (``ar``, ``fa``,
``he``, ``ur``) a dotted number or section whose parts appear in reverse order
counts as carried, as the Arabic ASVS numbers its sections right to left; a
swapped decimal (``1.5`` against ``5.1``) goes unnoticed there.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, fields
from decimal import Decimal
from fractions import Fraction

from tasks.polyglot_units import (
    DURATION_UNITS,
    PERCENT_WORDS,
    QUALIFIERS,
    SHORT_UNITS,
    UNIT_SECONDS,
)

CATEGORIES = (
    "numbers",
    "percentages",
    "durations",
    "placeholders",
    "code",
    "urls",
    "references",
)
RTL_LANGUAGES = frozenset({"ar", "fa", "he", "ur"})
SPACE_GROUPING_LANGUAGES = frozenset({"fr", "ru"})
CJK_MULTIPLIERS = {"万": 10_000, "亿": 100_000_000, "億": 100_000_000, "千": 1_000}
SMALL_NUMBER = 10


_NUM = r"[0-9]+(?:[.,'][0-9]+)*"
_NUM_SPACED = r"[0-9]{1,3}(?: [0-9]{3})+(?![0-9])"
_ARABIC_MARKS = re.compile(r"[\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06ed\u0640]")
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")
_LOOSE_SPACE = re.compile(r"(?<=[0-9])[\u00a0\u202f\u2009](?=[0-9]{3}(?![0-9]))")
_ARABIC_COMMA_GROUP = re.compile(r"(?<=[0-9])\u060c(?=[0-9]{3}(?![0-9]))")
_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
# Word boundaries for ASCII ids: ``\b`` would also need a boundary against CJK
# letters, which are word characters too (``RR-SEC-002も参照``).
_A = r"(?<![A-Za-z0-9_])"
_Z = r"(?![A-Za-z0-9_])"
_URL = re.compile(rf"{_A}(?i:https?|ftp)://[^\s<>\"'`{{}}|\\^\u0080-\U0010ffff]+")
_PLACEHOLDER = re.compile(r"\{\{?\s*([A-Za-z_][\w.\-]*|[0-9]+)\s*\}\}?")
_REFERENCES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (
        re.compile(rf"{_A}(?i:(CWE|CAPEC))[ -]?([0-9]+){_Z}"),
        lambda m: f"{m[1].upper()}-{m[2]}",
    ),
    (
        re.compile(rf"{_A}(?i:CVE)-([0-9]{{4}})-([0-9]{{4,7}}){_Z}"),
        lambda m: f"CVE-{m[1]}-{m[2]}",
    ),
    (
        re.compile(rf"{_A}(?i:ASVS)[ -]?V?([0-9]+(?:\.[0-9]+){{1,2}}){_Z}"),
        lambda m: f"ASVS-V{m[1]}",
    ),
    (
        re.compile(rf"{_A}NIST-800-[0-9]+[A-Za-z]?(?:-[0-9]+(?:\.[0-9]+)*)?"),
        lambda m: m[0],
    ),
    (
        re.compile(rf"{_A}(?:NIST ?(?:SP ?)?|SP ?)(800-[0-9]+[A-Za-z0-9]*)"),
        lambda m: f"SP {m[1]}",
    ),
    (re.compile(rf"{_A}RFC ?([0-9]+){_Z}"), lambda m: f"RFC {m[1]}"),
    (
        re.compile(rf"{_A}[A-Z][A-Z0-9]*(?:-[A-Z][A-Z0-9]*)+-[0-9]+(?:\.[0-9]+)*{_Z}"),
        lambda m: m[0],
    ),
    (
        re.compile(rf"{_A}V\.?([0-9]+(?:\.[0-9]+){{1,2}})(?![0-9]|\.[0-9])"),
        lambda m: f"V{m[1]}",
    ),
)


@dataclass(frozen=True)
class Markers:
    """The canonical values of each kind of marker found in one text."""

    numbers: frozenset[str] = frozenset()
    percentages: frozenset[str] = frozenset()
    durations: frozenset[str] = frozenset()
    placeholders: frozenset[str] = frozenset()
    code: frozenset[str] = frozenset()
    urls: frozenset[str] = frozenset()
    references: frozenset[str] = frozenset()

    def of(self, category: str) -> frozenset[str]:
        """The values of one category (one of :data:`CATEGORIES`)."""
        values: frozenset[str] = getattr(self, category)
        return values

    def to_json(self) -> dict[str, list[str]]:
        """Each non-empty category with its sorted values."""
        return {
            f.name: sorted(self.of(f.name)) for f in fields(self) if self.of(f.name)
        }


Differences = dict[str, dict[str, list[str]]]
"""Per differing category, the values ``missing`` from and ``extra`` in a translation."""


def language_of(locale: str) -> str:
    """The language part of a locale tag: ``zh`` for ``zh-cn``, ``pt`` for ``pt_BR``."""
    return re.split(r"[-_]", locale.strip().lower(), maxsplit=1)[0]


def normalise_text(text: str) -> str:
    """NFKC, ASCII digits, Arabic separators and signs, no Arabic diacritics.

    A no-break or thin space between digit groups becomes ``'`` first, since NFKC
    would turn it into a plain space. An Arabic comma between digit groups
    (``100،000``) is a thousands separator.
    """
    text = _LOOSE_SPACE.sub("'", text)
    text = unicodedata.normalize("NFKC", text)
    text = _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m[0])), text)
    text = text.translate({0x066B: ".", 0x066C: ",", 0x066A: "%"})
    text = _ARABIC_COMMA_GROUP.sub(",", text)

    return _ARABIC_MARKS.sub("", text)


def read_number(raw: str) -> list[tuple[str, str]]:
    """The values a numeral stands for, each as ``(category, canonical value)``.

    Usually one number; a dotted numeral of three or more parts that is not a
    grouping (``4.1.3``) is a section reference; a comma list (``1,5,7``) is
    several numbers.
    """
    text = raw.replace("'", "").replace(" ", "")
    separators = re.findall(r"[.,]", text)
    groups = re.split(r"[.,]", text)
    if not separators:
        return [("numbers", _canonical(groups[0]))]
    if len(set(separators)) == 1:
        return _read_uniform(groups, separators[0])
    decimal_mark = separators[-1]
    if separators.count(decimal_mark) == 1 and _is_grouping(groups[:-1]):
        return [("numbers", _canonical("".join(groups[:-1]) + "." + groups[-1]))]

    return [("numbers", _canonical(g)) for g in groups]


def _read_uniform(groups: list[str], separator: str) -> list[tuple[str, str]]:
    if _is_grouping(groups):
        return [("numbers", _canonical("".join(groups)))]
    if len(groups) == 2:
        return [("numbers", _canonical(f"{groups[0]}.{groups[1]}"))]
    if separator == ".":
        return [("references", ".".join(str(int(g)) for g in groups))]

    return [("numbers", _canonical(g)) for g in groups]


def _is_grouping(groups: list[str]) -> bool:
    head, tail = groups[0], groups[1:]
    return (
        1 <= len(head) <= 3
        and not head.startswith("0")
        and bool(tail)
        and all(len(g) == 3 for g in tail)
    )


def _canonical(number: str | Decimal) -> str:
    value = Decimal(number).normalize()
    return format(value, "f")


def format_duration(seconds: Fraction) -> str:
    """A length of time in the largest unit that measures it exactly."""
    for name in ("year", "month", "day", "hour", "minute", "second", "millisecond"):
        amount = seconds / UNIT_SECONDS[name]
        if amount.denominator == 1:
            plural = "" if amount == 1 else "s"
            return f"{amount.numerator} {name}{plural}"

    return f"{_canonical(Decimal(seconds.numerator) / seconds.denominator)} seconds"


class _Scanner:
    """A text from which matched markers are blanked out, one kind after another."""

    def __init__(self, text: str) -> None:
        self.text = text

    def take(
        self,
        pattern: re.Pattern[str],
        read: Callable[[re.Match[str]], list[tuple[str, str]] | None],
    ) -> list[tuple[str, str]]:
        """Read every match; blank out those that ``read`` accepts (not ``None``)."""
        found: list[tuple[str, str]] = []
        pieces: list[str] = []
        position = 0
        for match in pattern.finditer(self.text):
            values = read(match)
            if values is None:
                continue
            found += values
            pieces += [self.text[position : match.start()], " "]
            position = match.end()
        self.text = "".join([*pieces, self.text[position:]])

        return found


def _free_numeral(match: re.Match[str], start: int) -> bool:
    """Whether the numeral at ``start`` is not glued to a name (``sha256``, ``L1``).

    Glued to an acronym of two or more capitals (``HTML5``) it still counts.
    """
    before = match.string[:start]
    word = re.search(r"[A-Za-z_]+$", before)
    if word is None:
        return not before.endswith(tuple("0123456789"))

    return len(word[0]) >= 2 and word[0].isupper()


def _number_pattern(language: str, group: str = "num") -> str:
    number = (
        f"(?:{_NUM_SPACED}|{_NUM})" if language in SPACE_GROUPING_LANGUAGES else _NUM
    )
    return f"(?P<{group}>{number})"


def _unit_pattern(language: str) -> re.Pattern[str]:
    languages = [language, "en"] if language in DURATION_UNITS else list(DURATION_UNITS)
    words: list[str] = []
    cjk: list[str] = []
    for lang in dict.fromkeys(languages):
        for spellings in DURATION_UNITS[lang].values():
            (cjk if lang in ("zh", "ja") else words).extend(spellings)
    by_length = sorted(set(words), key=len, reverse=True)
    word_units = "|".join(re.escape(w) for w in by_length)
    cjk_units = "|".join(re.escape(w) for w in sorted(set(cjk), key=len, reverse=True))
    qualifiers = [q for lang in languages for q in QUALIFIERS.get(lang, ())]
    qualifier = "|".join(re.escape(q) for q in dict.fromkeys(qualifiers))
    short = "|".join(SHORT_UNITS)
    alternatives = [
        f"(?P<short>{short})(?![A-Za-z0-9])",
        rf"(?:[ -]|-? )?(?i:(?:{qualifier}) )?(?i:(?P<word>{word_units}))(?!\w)",
    ]
    if cjk_units:
        alternatives.append(f" ?(?P<cjk>{cjk_units})")
    pattern = f"{_number_pattern(language)}(?:{'|'.join(alternatives)})"

    return re.compile(pattern)


def _unit_lookup() -> dict[str, str]:
    lookup = dict(SHORT_UNITS)
    for spellings in DURATION_UNITS.values():
        for unit, words in spellings.items():
            lookup.update({w.casefold(): unit for w in words})

    return lookup


_UNIT_OF = _unit_lookup()


def _percent_pattern(language: str) -> re.Pattern[str]:
    words = "|".join(re.escape(w) for w in PERCENT_WORDS)
    number = _number_pattern(language)
    before = (
        f"|% ?{_number_pattern(language, 'pre')}" if language in RTL_LANGUAGES else ""
    )
    cjk = f"|百分之 ?{_number_pattern(language, 'cjk')}"

    return re.compile(rf"{number} ?(?:%|(?i:{words})(?!\w)){before}{cjk}")


def _numeral_value(raw: str, multiplier: str | None) -> Decimal | None:
    values = read_number(raw)
    if len(values) != 1 or values[0][0] != "numbers":
        return None
    value = Decimal(values[0][1])

    return value * CJK_MULTIPLIERS[multiplier] if multiplier else value


def extract_markers(text: str, locale: str = "en") -> Markers:
    """The markers of ``text``, written in ``locale`` (see the module docstring)."""
    language = language_of(locale)
    scanner = _Scanner(normalise_text(text))
    found: dict[str, set[str]] = {c: set() for c in CATEGORIES}
    for category, value in scanner.take(_CODE, lambda m: [("code", m[2].strip())]):
        found[category].add(value)
    for category, value in scanner.take(_URL, _read_url):
        found[category].add(value)
    for category, value in scanner.take(
        _PLACEHOLDER, lambda m: [("placeholders", f"{{{m[1]}}}")]
    ):
        found[category].add(value)
    for pattern, canonical in _REFERENCES:
        for category, value in scanner.take(pattern, _reference_reader(canonical)):
            found[category].add(value)
    for pattern, read in _numeric_readers(language):
        for category, value in scanner.take(pattern, read):
            found[category].add(value)

    return Markers(**{c: frozenset(v) for c, v in found.items()})


def _reference_reader(
    canonical: Callable[[re.Match[str]], str],
) -> Callable[[re.Match[str]], list[tuple[str, str]]]:
    return lambda match: [("references", canonical(match))]


_Reader = Callable[[re.Match[str]], list[tuple[str, str]] | None]


@functools.cache
def _numeric_readers(language: str) -> tuple[tuple[re.Pattern[str], _Reader], ...]:
    """Percentages, durations and numbers of one language, in that order."""
    cjk = language in ("zh", "ja")
    multiplier = f"(?P<mult>{'|'.join(CJK_MULTIPLIERS)})?" if cjk else "(?P<mult>)"

    def percent(match: re.Match[str]) -> list[tuple[str, str]] | None:
        groups = match.groupdict()
        group = next(g for g in ("num", "pre", "cjk") if groups.get(g) is not None)
        value = _numeral_value(match[group], None)
        if value is None or not _free_numeral(match, match.start(group)):
            return None
        return [("percentages", f"{_canonical(value)}%")]

    def duration(match: re.Match[str]) -> list[tuple[str, str]] | None:
        value = _numeral_value(match["num"], None)
        if value is None or not _free_numeral(match, match.start()):
            return None
        spelled = match["short"] or match["word"] or match["cjk"]
        seconds = Fraction(value) * UNIT_SECONDS[_UNIT_OF[spelled.casefold()]]
        return [("durations", format_duration(seconds))]

    def number(match: re.Match[str]) -> list[tuple[str, str]] | None:
        if not _free_numeral(match, match.start()):
            return None
        if match["mult"]:
            value = _numeral_value(match["num"], match["mult"])
            if value is not None:
                return [("numbers", _canonical(value))]
        return read_number(match["num"])

    return (
        (_percent_pattern(language), percent),
        (_unit_pattern(language), duration),
        (re.compile(f"v?{_number_pattern(language)}{multiplier}"), number),
    )


def _read_url(match: re.Match[str]) -> list[tuple[str, str]]:
    url = match[0].rstrip(".,;:!?")
    while url.endswith(")") and url.count("(") < url.count(")"):
        url = url[:-1].rstrip(".,;:!?")
    scheme, _, rest = url.partition("://")
    host, slash, path = rest.partition("/")
    canonical = f"{scheme.lower()}://{host.lower()}{slash}{path}".rstrip("/")

    return [("urls", canonical)]


def _reference_key(value: str) -> str:
    """What a number or reference points at: ``ASVS-V1.2`` and ``V1.2`` are ``1.2``."""
    key = value.removeprefix("ASVS-")
    if re.fullmatch(r"V[0-9]+(?:\.[0-9]+)+", key):
        key = key[1:]
    return key


def _reversed_key(key: str) -> str:
    parts = key.split(".")
    if len(parts) > 1 and all(p.isdigit() for p in parts):
        return ".".join(reversed(parts))
    return key


def compare_markers(
    source: Markers, translation: Markers, *, rtl: bool = False
) -> Differences:
    """What the translation lacks (``missing``) or adds (``extra``), by category.

    Only differing categories appear; values are sorted. ``rtl`` accepts section
    numbers written with their parts in reverse order (see the module docstring).
    """
    missing = {c: set(source.of(c) - translation.of(c)) for c in CATEGORIES}
    extra = {c: set(translation.of(c) - source.of(c)) for c in CATEGORIES}
    _reconcile_numbers(missing, extra, rtl)
    if not missing["numbers"] and all(_is_small(v) for v in extra["numbers"]):
        extra["numbers"].clear()
    differences: Differences = {}
    for category in CATEGORIES:
        if missing[category] or extra[category]:
            differences[category] = {
                "missing": sorted(missing[category]),
                "extra": sorted(extra[category]),
            }

    return differences


def _is_small(value: str) -> bool:
    return value.isdigit() and int(value) <= SMALL_NUMBER


def _reconcile_numbers(
    missing: dict[str, set[str]], extra: dict[str, set[str]], rtl: bool
) -> None:
    """Drop numbers and references that differ only in category or direction."""
    shared = ("numbers", "references")
    extra_keys: dict[str, tuple[str, str]] = {}
    for category in shared:
        for value in extra[category]:
            key = _reference_key(value)
            extra_keys.setdefault(key, (category, value))
            if rtl:
                extra_keys.setdefault(_reversed_key(key), (category, value))
    for category in shared:
        for value in sorted(missing[category]):
            key = _reference_key(value)
            match = extra_keys.get(key)
            if match is None or match[1] not in extra[match[0]]:
                continue
            missing[category].discard(value)
            extra[match[0]].discard(match[1])


def compare_texts(
    source: str, translation: str, *, source_locale: str, translation_locale: str
) -> Differences:
    """:func:`compare_markers` of two texts, each read in its own locale."""
    rtl = language_of(translation_locale) in RTL_LANGUAGES
    return compare_markers(
        extract_markers(source, source_locale),
        extract_markers(translation, translation_locale),
        rtl=rtl,
    )
