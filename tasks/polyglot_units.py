"""The words for units of time and for per cent in each supported locale.

The vocabulary :mod:`tasks.polyglot` reads durations and percentages with: the
nine locales of the OWASP ASVS exports (``en de fr es it pt ru ar zh-cn``) plus
Japanese. Each unit is given as the spellings that follow a numeral, longest
forms included (plurals, Russian genitive forms, Arabic plurals and the forms
with tanween, written without diacritics since the text is matched without
them). Chinese months are ``个月`` only: a bare ``月`` after a number is a
calendar month (``10月`` is October). Lengths are exact: a month is a twelfth
of a year of 365.2425 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

DAY = Fraction(86_400)
YEAR = DAY * Fraction("365.2425")
UNIT_SECONDS: Mapping[str, Fraction] = {
    "millisecond": Fraction(1, 1000),
    "second": Fraction(1),
    "minute": Fraction(60),
    "hour": Fraction(3600),
    "day": DAY,
    "week": 7 * DAY,
    "month": YEAR / 12,
    "year": YEAR,
}

# Time units by language. Latin, Cyrillic and Arabic words must end at a word
# boundary and are matched ignoring case; CJK units need no boundary. Arabic is
# matched after its diacritics and tatweel are removed.
DURATION_UNITS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "en": {
        "millisecond": ("milliseconds", "millisecond", "msec", "ms"),
        "second": ("seconds", "second", "secs", "sec"),
        "minute": ("minutes", "minute", "mins", "min"),
        "hour": ("hours", "hour", "hrs", "hr"),
        "day": ("days", "day"),
        "week": ("weeks", "week"),
        "month": ("months", "month"),
        "year": ("years", "year", "yrs", "yr"),
    },
    "de": {
        "millisecond": ("millisekunden", "millisekunde"),
        "second": ("sekunden", "sekunde", "sek"),
        "minute": ("minuten", "minute", "min"),
        "hour": ("stunden", "stunde", "std"),
        "day": ("tagen", "tage", "tag"),
        "week": ("wochen", "woche"),
        "month": ("monaten", "monate", "monat"),
        "year": ("jahren", "jahre", "jahr"),
    },
    "fr": {
        "millisecond": ("millisecondes", "milliseconde"),
        "second": ("secondes", "seconde"),
        "minute": ("minutes", "minute"),
        "hour": ("heures", "heure"),
        "day": ("jours", "jour"),
        "week": ("semaines", "semaine"),
        "month": ("mois",),
        "year": ("années", "année", "ans", "an"),
    },
    "es": {
        "millisecond": ("milisegundos", "milisegundo"),
        "second": ("segundos", "segundo"),
        "minute": ("minutos", "minuto"),
        "hour": ("horas", "hora"),
        "day": ("días", "día", "dias", "dia"),
        "week": ("semanas", "semana"),
        "month": ("meses", "mes"),
        "year": ("años", "año"),
    },
    "it": {
        "millisecond": ("millisecondi", "millisecondo"),
        "second": ("secondi", "secondo"),
        "minute": ("minuti", "minuto"),
        "hour": ("ore", "ora"),
        "day": ("giorni", "giorno"),
        "week": ("settimane", "settimana"),
        "month": ("mesi", "mese"),
        "year": ("anni", "anno"),
    },
    "pt": {
        "millisecond": ("milissegundos", "milissegundo"),
        "second": ("segundos", "segundo"),
        "minute": ("minutos", "minuto"),
        "hour": ("horas", "hora"),
        "day": ("dias", "dia"),
        "week": ("semanas", "semana"),
        "month": ("meses", "mês"),
        "year": ("anos", "ano"),
    },
    "ru": {
        "millisecond": ("миллисекунд", "миллисекунды", "миллисекунду", "мс"),
        "second": ("секунд", "секунды", "секунду", "секунда", "сек"),
        "minute": ("минут", "минуты", "минуту", "минута", "мин"),
        "hour": ("часов", "часа", "час", "ч"),
        "day": ("дней", "дня", "день", "суток", "сутки"),
        "week": ("недель", "недели", "неделю", "неделя"),
        "month": ("месяцев", "месяца", "месяц"),
        "year": ("лет", "года", "год"),
    },
    "ar": {
        "millisecond": ("ميلي ثانية", "مللي ثانية", "ملي ثانية"),
        "second": ("ثواني", "ثوان", "ثانية"),
        "minute": ("دقائق", "دقيقة"),
        "hour": ("ساعات", "ساعة"),
        "day": ("أيام", "ايام", "يوما", "يوم"),
        "week": ("أسابيع", "اسابيع", "أسبوعا", "أسبوع", "اسبوع"),
        "month": ("أشهر", "اشهر", "شهور", "شهرا", "شهر"),
        "year": ("سنوات", "سنين", "سنة", "أعوام", "عاما", "عام"),
    },
    "zh": {
        "millisecond": ("毫秒",),
        "second": ("秒钟", "秒"),
        "minute": ("分钟",),
        "hour": ("个小时", "小时", "个钟头", "钟头"),
        "day": ("天",),
        "week": ("个星期", "星期", "周"),
        "month": ("个月",),
        "year": ("年",),
    },
    "ja": {
        "millisecond": ("ミリ秒",),
        "second": ("秒間", "秒"),
        "minute": ("分間", "分"),
        "hour": ("時間",),
        "day": ("日間", "日"),
        "week": ("週間", "週"),
        "month": ("か月", "ヶ月", "ヵ月", "カ月", "ケ月"),
        "year": ("年間", "年"),
    },
}
# Words that may stand between a number and its unit: "30 business days",
# "les 30 derniers jours", "за 30 последних дней". Matched ignoring case.
QUALIFIERS: Mapping[str, tuple[str, ...]] = {
    "en": (
        "calendar", "business", "working", "consecutive", "full", "more",
        "additional", "further", "straight",
    ),
    "de": (
        "aufeinanderfolgende", "aufeinanderfolgenden", "weitere", "weiteren",
        "volle", "vollen", "letzte", "letzten", "ersten", "nächsten",
    ),
    "fr": (
        "derniers", "dernières", "premiers", "premières", "prochains",
        "prochaines", "consécutifs", "consécutives", "pleins", "pleines",
    ),
    "es": ("consecutivos", "consecutivas"),
    "it": ("consecutivi", "consecutive", "ulteriori"),
    "pt": ("consecutivos", "consecutivas"),
    "ru": (
        "последних", "последние", "первых", "следующих", "рабочих",
        "календарных", "полных",
    ),
}  # fmt: skip
# Glued to the number only (``30s``, ``24h``, ``500ms``), in any locale.
SHORT_UNITS = {"ms": "millisecond", "s": "second", "h": "hour", "d": "day"}
PERCENT_WORDS = (
    "percent", "per cent", "prozent", "pour cent", "pourcent", "por ciento",
    "per cento", "percento", "por cento", "процентов", "процента", "процент",
    "في المائة", "في المئة", "بالمائة", "بالمئة", "パーセント",
)  # fmt: skip
