"""The locales of the sample and the phrases shared by every rule, per locale.

Tables of phrases are written as text, one row a line and one cell per locale
between ``|`` separators, so that a phrase and its translations read side by side.
"""

import re
import textwrap

LOCALES = ("en", "de", "fr", "es", "ja")
"""Every locale of the sample; rules are written in the first three."""

L5 = tuple[str, str, str, str, str]
"""One phrase in each of ``LOCALES``, in that order."""


def parse_rows(block: str) -> list[list[str]]:
    """Split a text table into rows of ``|``-separated cells.

    A line that starts with whitespace continues the line above it.
    """
    text = re.sub(r"\n\s+", " ", textwrap.dedent(block).strip())
    return [[cell.strip() for cell in line.split("|")] for line in text.splitlines()]


def parse_phrases(block: str) -> tuple[L5, ...]:
    """Parse a table whose rows hold one phrase in each of ``LOCALES``."""
    return tuple((en, de, fr, es, ja) for en, de, fr, es, ja in parse_rows(block))


EXTRAS: dict[str, L5] = {
    "refines": (
        "This rule refines $ref.",
        "Diese Regel präzisiert $ref.",
        "Cette règle précise $ref.",
        "Esta regla precisa $ref.",
        "このルールは$refを具体化したものです。",
    ),
    "see_also": (
        "See also $see.",
        "Siehe auch $see.",
        "Voir aussi $see.",
        "Véase también $see.",
        "$seeも参照してください。",
    ),
    "background": (
        "Background and examples are at $wiki.",
        "Hintergrund und Beispiele stehen unter $wiki.",
        "Le contexte et des exemples sont disponibles sur $wiki.",
        "El contexto y los ejemplos están en $wiki.",
        "背景と例は$wikiにあります。",
    ),
    "notify": (
        "Notifications quote {ticket_id} and address the requester as "
        "{requester_name}.",
        "Benachrichtigungen nennen {ticket_id} und sprechen die anfragende Person "
        "als {requester_name} an.",
        "Les notifications citent {ticket_id} et s'adressent au demandeur sous le "
        "nom {requester_name}.",
        "Las notificaciones citan {ticket_id} y se dirigen al solicitante como "
        "{requester_name}.",
        "通知には{ticket_id}を記載し、依頼者を{requester_name}と呼びます。",
    ),
    "exception": (
        "Exceptions are granted by $role for at most $exc_days days.",
        "Ausnahmen gewährt $role für höchstens $exc_days Tage.",
        "Les exceptions sont accordées par $role pour $exc_days jours au plus.",
        "Las excepciones las concede $role por un máximo de $exc_days días.",
        "例外は$roleが最大$exc_days日間まで認めます。",
    ),
}
"""Sentences appended to some rules, for references, links and placeholders."""

ROLES: tuple[L5, ...] = (
    (
        "the compliance office",
        "das Compliance-Büro",
        "le service conformité",
        "la oficina de cumplimiento",
        "コンプライアンス室",
    ),
    (
        "the security team",
        "das Sicherheitsteam",
        "l'équipe sécurité",
        "el equipo de seguridad",
        "セキュリティチーム",
    ),
    (
        "the rule owner",
        "die regelverantwortliche Person",
        "le responsable de la règle",
        "la persona responsable de la regla",
        "ルール責任者",
    ),
)
TWIN_PREFIX: L5 = (
    "Exception for pilot teams:",
    "Ausnahme für Pilotteams:",
    "Exception pour les équipes pilotes :",
    "Excepción para equipos piloto:",
    "パイロットチーム向けの例外として、",
)
TWIN_TITLE = ("Pilot exception", "Pilotausnahme", "Exception pilote")

# The values a rule's slots are drawn from.
DAYS = (7, 14, 30, 45, 60, 90, 180, 365)
HOURS = (4, 12, 24, 48, 72)
PERCENTS = ("5%", "10%", "20%", "30%")
CURRENCIES = ("EUR", "USD", "GBP", "CHF")
EXCEPTION_DAYS = (14, 30, 90)
REGIONS = ("EU", "US", "UK", "APAC", "LATAM")
