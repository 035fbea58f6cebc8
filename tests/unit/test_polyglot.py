"""Markers a translation must carry: extraction and comparison, locale by locale."""

from __future__ import annotations

from fractions import Fraction

import pytest

from tasks.polyglot import (
    Markers,
    compare_markers,
    compare_texts,
    extract_markers,
    format_duration,
    language_of,
    normalise_text,
    read_number,
)
from tasks.polyglot_units import DURATION_UNITS


def numbers(text: str, locale: str = "en") -> list[str]:
    return sorted(extract_markers(text, locale).numbers)


def durations(text: str, locale: str = "en") -> list[str]:
    return sorted(extract_markers(text, locale).durations)


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("the top 1,000 passwords", "en"),
        ("die 1.000 häufigsten", "de"),
        ("les 1 000 mots de passe", "fr"),
        ("les 1\u202f000 mots de passe", "fr"),
        ("die 1\u00a0000 häufigsten", "de"),
        ("1'000 Passwörter", "de"),
        ("в 1000 наиболее", "ru"),
        ("أكثر \u0661\u0660\u0660\u0660 كلمة", "ar"),  # Arabic-Indic digits
        ("بیش از \u06f1\u06f0\u06f0\u06f0", "fa"),  # Persian digits
        ("前\uff11\uff10\uff10\uff10个", "zh-cn"),  # full-width digits
        ("las 1,000 contraseñas", "es"),
    ],
)
def test_numbers_read_one_thousand_in_every_locale_format(text, locale) -> None:
    """Grouping by comma, dot, space, no-break space, apostrophe or script is 1000."""
    assert numbers(text, locale) == ["1000"]


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("1.5 seconds of", "en", []),
        ("a factor of 1.5", "en", ["1.5"]),
        ("ein Faktor von 1,5", "de", ["1.5"]),
        ("1.000,5 Euro", "de", ["1000.5"]),
        ("1,000.5 euros", "en", ["1000.5"]),
        ("at 0.125", "en", ["0.125"]),
        ("100.000 Iterationen", "de", ["100000"]),
        ("100 000 itérations", "fr", ["100000"]),
        ("10 000 наиболее", "ru", ["10000"]),
        ("100،000 تكرار", "ar", ["100000"]),
        ("\u0661\u0662\u066b\u0665 بالمئة", "ar", []),  # 12.5 per cent
        ("10万次迭代", "zh-cn", ["100000"]),
        ("2.500 Zeichen", "de", ["2500"]),
        ("values 1,5,7", "en", ["1", "5", "7"]),
    ],
)
def test_numbers_read_decimals_and_groupings(text, locale, expected) -> None:
    """Decimal commas and dots, mixed separators and CJK multipliers are read."""
    found = numbers(text, locale)

    assert found == expected


def test_numbers_in_a_space_are_separate_outside_space_grouping_locales() -> None:
    """In English '64 128' is two numbers; in French a plain space groups digits."""
    assert numbers("sizes 64 128", "en") == ["128", "64"]
    assert numbers("tailles 64 128", "fr") == ["64128"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hash with sha256 or x509", []),
        ("levels L1 and L3, controls C6", []),
        ("HTML5 storage", ["5"]),
        ("HTML 5 storage", ["5"]),
        ("MD5 and SHA1", ["1", "5"]),
        ("PKCS#1 v1.5", ["1", "1.5"]),
        ("a 32-bit salt", ["32"]),
        ("ISO-8859-1", ["1", "8859"]),
    ],
)
def test_numbers_glued_to_names_follow_the_name_rule(text, expected) -> None:
    """Digits after a lower-case word or one capital are names; after an acronym, numbers."""
    assert numbers(text) == expected


def test_read_number_classifies_dotted_sections_and_lists() -> None:
    """A dotted numeral of three parts is a section, a grouping is a number."""
    assert read_number("4.1.3") == [("references", "4.1.3")]
    assert read_number("1.000.000") == [("numbers", "1000000")]
    assert read_number("1,000,000") == [("numbers", "1000000")]
    assert read_number("3.4") == [("numbers", "3.4")]
    assert read_number("1.2.3,4") == [
        ("numbers", "1"),
        ("numbers", "2"),
        ("numbers", "3"),
        ("numbers", "4"),
    ]


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("20%", "en"),
        ("20 %", "fr"),
        ("20 percent", "en"),
        ("20 Prozent", "de"),
        ("20 por ciento", "es"),
        ("20 per cento", "it"),
        ("20 por cento", "pt"),
        ("20 процентов", "ru"),
        ("\u0662\u0660\u066a", "ar"),  # Arabic-Indic 20 and per-cent sign
        ("\u066a20", "ar"),
        ("20 في المائة", "ar"),
        ("\uff12\uff10\uff05", "zh-cn"),  # full-width 20%
        ("百分之20", "zh-cn"),
        ("20パーセント", "ja"),
    ],
)
def test_percentages_are_read_in_every_locale(text, locale) -> None:
    """A per-cent sign or word makes a percentage, not a plain number."""
    markers = extract_markers(text, locale)

    assert markers.percentages == {"20%"}
    assert markers.numbers == frozenset()


THIRTY_DAYS = {
    "en": "30 days",
    "de": "30 Tage",
    "fr": "30 jours",
    "es": "30 días",
    "it": "30 giorni",
    "pt": "30 dias",
    "ru": "30 дней",
    "ar": "30 يومًا",
    "zh-cn": "30天",
    "ja": "30日間",
}
TEN_MINUTES = {
    "en": "after 10 minutes",
    "de": "nach 10 Minuten",
    "fr": "après 10 minutes",
    "es": "después de 10 minutos",
    "it": "dopo 10 minuti",
    "pt": "após 10 minutos",
    "ru": "через 10 минут",
    "ar": "بعد 10 دقائق",
    "zh-cn": "在10分钟后",
    "ja": "10分後",
}


@pytest.mark.parametrize(("locale", "text"), sorted(THIRTY_DAYS.items()))
def test_durations_of_thirty_days_agree_in_every_locale(locale, text) -> None:
    """Thirty days in each of the ten locales' own unit is 30 days."""
    markers = extract_markers(text, locale)

    assert markers.durations == {"30 days"}
    assert markers.numbers == frozenset()


@pytest.mark.parametrize(("locale", "text"), sorted(TEN_MINUTES.items()))
def test_durations_of_ten_minutes_agree_in_every_locale(locale, text) -> None:
    """Ten minutes in each of the ten locales' own unit is 10 minutes."""
    assert durations(text, locale) == ["10 minutes"]


def test_duration_table_covers_the_asvs_locales_and_japanese() -> None:
    """Every language of the nine ASVS locales plus Japanese has every unit."""
    languages = {"en", "de", "fr", "es", "it", "pt", "ru", "ar", "zh", "ja"}

    assert set(DURATION_UNITS) == languages
    for units in DURATION_UNITS.values():
        assert set(units) == {
            "millisecond",
            "second",
            "minute",
            "hour",
            "day",
            "week",
            "month",
            "year",
        }


@pytest.mark.parametrize(
    ("text", "locale", "expected"),
    [
        ("24 hours", "en", ["1 day"]),
        ("1,5 Stunden", "de", ["90 minutes"]),
        ("12 months", "en", ["1 year"]),
        ("2 weeks", "en", ["14 days"]),
        ("a 30-day period", "en", ["30 days"]),
        ("24h and 30s and 500ms", "en", ["1 day", "30 seconds", "500 milliseconds"]),
        ("24 小时", "zh-cn", ["1 day"]),
        ("3 个月", "zh-cn", ["3 months"]),
        ("3か月", "ja", ["3 months"]),
        ("6 mois", "fr", ["6 months"]),
        ("1 an", "fr", ["1 year"]),
    ],
)
def test_durations_are_compared_as_lengths_of_time(text, locale, expected) -> None:
    """Units convert exactly: 24 hours is a day, 12 months a year, 1,5 h 90 min."""
    assert durations(text, locale) == expected


@pytest.mark.parametrize(
    ("text", "locale"),
    [
        ("within 30 business days", "en"),
        ("au cours des 30 derniers jours", "fr"),
        ("innerhalb der 30 letzten Tage", "de"),
        ("за 30 последних дней", "ru"),
    ],
)
def test_durations_allow_a_qualifier_between_number_and_unit(text, locale) -> None:
    """'30 derniers jours' and '30 business days' are 30 days, not a bare 30."""
    markers = extract_markers(text, locale)

    assert markers.durations == {"30 days"}
    assert markers.numbers == frozenset()


def test_thirty_days_is_not_a_month() -> None:
    """A month is a twelfth of a year, so 30 days and 1 month differ."""
    differences = compare_texts(
        "within 30 days",
        "innerhalb 1 Monat",
        source_locale="en",
        translation_locale="de",
    )

    assert differences == {
        "durations": {"missing": ["30 days"], "extra": ["1 month"]},
    }


def test_units_of_other_languages_are_not_read() -> None:
    """German 'Tag' after a number in an English text is no duration."""
    assert durations("allow 1 tag per page", "en") == []
    assert durations("1 Tag", "de") == ["1 day"]


def test_format_duration_picks_the_largest_exact_unit() -> None:
    """A length of time is shown in the largest unit that measures it exactly."""
    assert format_duration(Fraction(86_400)) == "1 day"
    assert format_duration(Fraction(5_400)) == "90 minutes"
    assert format_duration(Fraction(1, 2)) == "500 milliseconds"
    assert format_duration(Fraction(3, 2000)) == "0.0015 seconds"


def test_placeholders_are_compared_by_name() -> None:
    """{name}, {{ name }} and {0} are placeholders; their digits are not numbers."""
    markers = extract_markers("Hello {name}, {{ user }} has {0} alerts")

    assert markers.placeholders == {"{name}", "{user}", "{0}"}
    assert markers.numbers == frozenset()


def test_inline_code_is_compared_as_written() -> None:
    """Code between backticks is one marker; its digits are not numbers."""
    markers = extract_markers("Set `max-age=31536000` or ``Secure; SameSite=Lax``.")

    assert markers.code == {"max-age=31536000", "Secure; SameSite=Lax"}
    assert markers.numbers == frozenset()


def test_urls_lose_trailing_punctuation_and_case_of_host() -> None:
    """Markdown parentheses, a final period and host case do not change a URL."""
    source = extract_markers(
        "([C1](https://OWASP.org/www-project/#div-numbering)). See http://a.example/x/."
    )
    translation = extract_markers(
        "见 https://owasp.org/www-project/#div-numbering。 http://A.example/x/", "zh-cn"
    )

    assert source.urls == {
        "https://owasp.org/www-project/#div-numbering",
        "http://a.example/x",
    }
    assert translation.urls == source.urls
    assert source.numbers == frozenset()


def test_urls_keep_balanced_parentheses() -> None:
    """A parenthesis that belongs to the URL stays."""
    markers = extract_markers("see https://en.wikipedia.org/wiki/Salt_(cryptography).")

    assert markers.urls == {"https://en.wikipedia.org/wiki/Salt_(cryptography)"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("see CWE-79 and cwe 89", {"CWE-79", "CWE-89"}),
        ("CVE-2021-44228", {"CVE-2021-44228"}),
        ("rule RR-SEC-001 applies", {"RR-SEC-001"}),
        ("as ASVS-V1.2.3 says", {"ASVS-V1.2.3"}),
        ("requirement V1.2.3 and section V1.2", {"V1.2.3", "V1.2"}),
        ("DUPLICATE OF 4.1.3", {"4.1.3"}),
        ("per NIST SP 800-57 and SP 800-90Ar1", {"SP 800-57", "SP 800-90Ar1"}),
        ("NIST-800-63-5.1.1.2", {"NIST-800-63-5.1.1.2"}),
        ("RFC 6749", {"RFC 6749"}),
        ("SHA-256 and UTF-8", set()),
    ],
)
def test_references_are_recognised(text, expected) -> None:
    """Rule, norm, section and publication ids are references, not numbers."""
    markers = extract_markers(text)

    assert markers.references == expected


def test_ids_and_urls_next_to_cjk_letters_are_recognised() -> None:
    """CJK letters are word characters, yet ids and URLs glued to them are found."""
    markers = extract_markers(
        "背景と例はhttps://wiki.example.org/rules/rr-ai-004にあります。"
        "RR-SEC-002も参照し、CWE-79を避けます。",
        "ja",
    )

    assert markers.urls == {"https://wiki.example.org/rules/rr-ai-004"}
    assert markers.references == {"RR-SEC-002", "CWE-79"}
    assert markers.numbers == frozenset()


def test_reference_digits_are_not_numbers() -> None:
    """A reference's digits do not count again as numbers."""
    markers = extract_markers("see CWE-79, V1.2.3 and NIST SP 800-57")

    assert markers.numbers == frozenset()


def test_section_written_as_v_dot_matches_a_bare_section_number() -> None:
    """Russian 'V.3.4' carries English 'section 3.4'."""
    differences = compare_texts(
        "(see section 3.4)",
        "(см. раздел V.3.4)",
        source_locale="en",
        translation_locale="ru",
    )

    assert differences == {}


def test_asvs_prefixed_reference_matches_its_bare_id() -> None:
    """ASVS-V1.2.3 and V1.2.3 name the same requirement."""
    assert (
        compare_texts(
            "see ASVS-V1.2.3",
            "siehe V1.2.3",
            source_locale="en",
            translation_locale="de",
        )
        == {}
    )


def test_reversed_sections_match_only_in_right_to_left_locales() -> None:
    """Arabic '4.3' carries '3.4'; the same swap in German is a difference."""
    arabic = compare_texts(
        "see section 3.4", "انظر القسم 4.3", source_locale="en", translation_locale="ar"
    )
    german = compare_texts(
        "see section 3.4",
        "siehe Abschnitt 4.3",
        source_locale="en",
        translation_locale="de",
    )

    assert arabic == {}
    assert german == {"numbers": {"missing": ["3.4"], "extra": ["4.3"]}}


def test_compare_names_missing_and_extra_per_category() -> None:
    """Only differing categories appear, each with sorted missing and extra values."""
    differences = compare_texts(
        "At least 12 characters, at most 128, expire after 10 minutes; see CWE-521.",
        "Mindestens 12 Zeichen, höchstens 64, Ablauf nach 15 Minuten.",
        source_locale="en",
        translation_locale="de",
    )

    assert differences == {
        "numbers": {"missing": ["128"], "extra": ["64"]},
        "durations": {"missing": ["10 minutes"], "extra": ["15 minutes"]},
        "references": {"missing": ["CWE-521"], "extra": []},
    }


@pytest.mark.parametrize(
    ("source", "translation", "expected"),
    [
        ("a second approver", "2人目の承認者", {}),
        ("a six digit code", "6 位数字的代码", {}),
        ("at most 3 tries", "最多5次", {"numbers": {"missing": ["3"], "extra": ["5"]}}),
        ("a second approver", "11人目", {"numbers": {"missing": [], "extra": ["11"]}}),
        ("half a day", "2.5 日", {"numbers": {"missing": [], "extra": ["2.5"]}}),
    ],
)
def test_small_numbers_only_in_the_translation_are_not_a_difference(
    source, translation, expected
) -> None:
    """Whole numbers up to 10 written only as digits in the translation pass alone."""
    differences = compare_texts(
        source, translation, source_locale="en", translation_locale="zh-cn"
    )

    assert differences == expected


def test_compare_counts_values_as_sets() -> None:
    """A value mentioned twice in one text and once in the other is carried."""
    assert (
        compare_texts(
            "64 bits, at least 64",
            "64 Bit",
            source_locale="en",
            translation_locale="de",
        )
        == {}
    )


def test_compare_of_equal_markers_is_empty() -> None:
    """Texts with the same markers, or none, do not differ."""
    assert compare_markers(Markers(), Markers()) == {}
    assert (
        compare_texts(
            "Verify the user",
            "Prüfen Sie den Benutzer",
            source_locale="en",
            translation_locale="de",
        )
        == {}
    )


def test_markers_to_json_lists_non_empty_categories() -> None:
    """to_json gives each non-empty category's values sorted."""
    markers = extract_markers("20% of 64 and 12, see https://a.example")

    assert markers.to_json() == {
        "numbers": ["12", "64"],
        "percentages": ["20%"],
        "urls": ["https://a.example"],
    }


def test_normalise_text_maps_digits_and_arabic_signs() -> None:
    """Other scripts' digits become ASCII; Arabic separators and diacritics go."""
    assert normalise_text("\u0661\u0662\u066b\u0665\u066a") == "12.5%"
    assert normalise_text("\uff11\uff12\uff13") == "123"
    assert normalise_text("يومًا") == "يوما"


def test_language_of_takes_the_language_part() -> None:
    """zh-cn is zh and pt_BR is pt."""
    assert language_of("zh-cn") == "zh"
    assert language_of("pt_BR") == "pt"
    assert language_of(" EN ") == "en"
