"""A realistic sample repository, generated deterministically (DESIGN §6).

``generate_sample`` builds a snapshot in the format ``rulerepo load`` reads: norms in
a four-level hierarchy (code of conduct, frameworks, articles, clauses), a few hundred
rules over seven scopes and five locales, 90 days of evaluations and judgments, human
corrections and canary inputs. The data is shaped so that every threshold of the
scheduled jobs (DESIGN §4) trips on some rules and not on others: busy, dormant,
never-denying, noisy, ineffective and shifting rules; stale, missing and defective
translations; overdue reviews; deprecated rules old enough to archive, some under
legal hold; rules in conflict; broken code examples; canaries that drift; and
corrections that fall into recurring themes beside one-off noise.

Everything derives from one seeded ``random.Random``: the same ``now``, ``seed`` and
``rules`` always give the same document. Canary verdicts assume the local
evaluator's reading of a pattern: ``re.search`` with the pattern's inline flags,
deny on a match.
"""

from __future__ import annotations

import json
import logging
import re
import textwrap
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from math import floor
from pathlib import Path
from random import Random
from string import Template
from typing import Any

logger = logging.getLogger(__name__)

__all__ = ["THEMES", "CorrectionTheme", "generate_sample", "write_sample"]

LOCALES = ("en", "de", "fr", "es", "ja")
"""Every locale of the sample; rules are written in the first three."""

DAY_S = 86_400
WINDOW_DAYS = 90
"""Evaluations and judgments cover the 90 days before ``now``."""

CORRECTION_WINDOW_DAYS = 14
"""Most corrections fall in the window cluster_corrections fetches."""

L5 = tuple[str, str, str, str, str]
"""One phrase in each of ``LOCALES``, in that order."""


# Catalogue: scopes, rule templates, shared sentences.


def _rows(block: str) -> list[list[str]]:
    """Split a text table into rows of ``|``-separated cells.

    A line that starts with whitespace continues the line above it.
    """
    text = re.sub(r"\n\s+", " ", textwrap.dedent(block).strip())
    return [[cell.strip() for cell in line.split("|")] for line in text.splitlines()]


def _phrases(block: str) -> tuple[L5, ...]:
    """Parse a table whose rows hold one phrase in each of ``LOCALES``."""
    return tuple((en, de, fr, es, ja) for en, de, fr, es, ja in _rows(block))


@dataclass(frozen=True)
class _Scope:
    name: str
    code: str
    weight: float
    contexts: tuple[L5, ...]
    """Where a scope's rules apply, with German nouns that read alike in any case."""


SCOPES = (
    _Scope(
        "data-privacy",
        "PRIV",
        0.2,
        _phrases("""
            support tickets | Support-Tickets | tickets de support | tickets de soporte
              | サポートチケット
            chat transcripts | Chat-Transkriptionen | transcriptions de chat
              | transcripciones de chat | チャット記録
            customer files | Kundenakten | dossiers clients | expedientes de clientes
              | 顧客ファイル
            analytics events | Analyse-Events | événements analytiques
              | eventos de analítica | 分析イベント
        """),
    ),
    _Scope(
        "security",
        "SEC",
        0.2,
        _phrases("""
            repositories | Repositories | dépôts | repositorios | リポジトリ
            CI pipelines | CI-Pipelines | pipelines CI | pipelines de CI | CIパイプライン
            container images | Container-Images | images de conteneur
              | imágenes de contenedor | コンテナイメージ
            infrastructure templates | Infrastruktur-Templates | modèles d'infrastructure
              | plantillas de infraestructura | インフラテンプレート
        """),
    ),
    _Scope(
        "finance",
        "FIN",
        0.15,
        _phrases("""
            expense claims | Spesenabrechnungen | notes de frais | notas de gastos | 経費精算
            supplier invoices | Lieferantenrechnungen | factures fournisseurs
              | facturas de proveedores | 仕入先請求書
            bank transfers | Überweisungen | virements | transferencias | 銀行振込
        """),
    ),
    _Scope(
        "hr",
        "HR",
        0.1,
        _phrases("""
            job postings | Stellenanzeigen | offres d'emploi | ofertas de empleo | 求人票
            performance reviews | Leistungsbeurteilungen | évaluations de performance
              | evaluaciones de desempeño | 人事評価
            interview notes | Interviewnotizen | notes d'entretien | notas de entrevista
              | 面接メモ
        """),
    ),
    _Scope(
        "content-moderation",
        "MOD",
        0.15,
        _phrases("""
            forum posts | Foren-Posts | messages de forum | publicaciones del foro
              | フォーラム投稿
            product reviews | Produktbewertungen | avis produits | reseñas de productos
              | 商品レビュー
            direct messages | Direktnachrichten | messages privés | mensajes directos
              | ダイレクトメッセージ
        """),
    ),
    _Scope(
        "procurement",
        "PROC",
        0.1,
        _phrases("""
            purchase orders | Bestellungen | bons de commande | órdenes de compra | 発注書
            tenders | Ausschreibungen | appels d'offres | licitaciones | 入札
            purchase requisitions | Bestellanforderungen | demandes d'achat
              | solicitudes de compra | 購買依頼
        """),
    ),
    _Scope(
        "ai-governance",
        "AI",
        0.1,
        _phrases("""
            chat assistants | Chat-Assistenten | assistants conversationnels
              | asistentes de chat | チャットアシスタント
            code completion tools | Code-Vervollständigungstools
              | outils de complétion de code | herramientas de autocompletado
              | コード補完ツール
            summarisation pipelines | Zusammenfassungs-Pipelines | pipelines de résumé
              | flujos de resumen | 要約パイプライン
        """),
    ),
)


@dataclass(frozen=True)
class _Template:
    """A family of rules: its wording per locale, pattern and canary inputs.

    ``title`` is in en, de and fr (the source locales), ``text`` in every locale.
    Both use ``$name`` slots; ``{name}`` placeholders are part of the rule text.
    """

    key: str
    scope: str
    effect: str
    norms: tuple[str, ...]
    pattern: str | None
    codes: tuple[str, ...]
    title: tuple[str, str, str]
    text: L5
    deny_inputs: tuple[str, ...]
    allow_inputs: tuple[str, ...]
    numbers: tuple[int, ...] = (3,)
    amounts: tuple[int, ...] = (1000,)


TEMPLATES = (
    _Template(
        key="mask-personal-data",
        scope="data-privacy",
        effect="deny",
        norms=("POL-PRIV-1.1", "POL-PRIV-1", "POL-SEC-4"),
        pattern=r"(?i)\b(e-?mail address|phone number|national id|passport number)\b",
        codes=("mask_pii()", "redact(value, keep=4)", "PiiMasker.apply"),
        numbers=(2, 3, 4),
        title=(
            "Mask personal data in $ctx",
            "Personenbezogene Daten in $ctx maskieren",
            "Masquer les données personnelles dans les $ctx",
        ),
        text=(
            "Personal data such as email addresses, phone numbers or national ID "
            "numbers must not appear unmasked in $ctx. Mask every value except its "
            "last $n characters with $code before the record is stored.",
            "Personenbezogene Daten wie E-Mail-Adressen, Telefonnummern oder "
            "Ausweisnummern dürfen in $ctx nicht unmaskiert erscheinen. Maskieren Sie "
            "jeden Wert bis auf die letzten $n Zeichen mit $code, bevor der Datensatz "
            "gespeichert wird.",
            "Les données personnelles telles que les adresses e-mail, les numéros de "
            "téléphone ou les numéros d'identité ne doivent pas apparaître en clair "
            "dans les $ctx. Masquez chaque valeur sauf ses $n derniers caractères avec "
            "$code avant d'enregistrer la donnée.",
            "Los datos personales como direcciones de correo, números de teléfono o "
            "números de identidad no deben aparecer sin enmascarar en $ctx. Enmascare "
            "cada valor salvo sus últimos $n caracteres con $code antes de guardar el "
            "registro.",
            "メールアドレス、電話番号、国民ID番号などの個人データを、マスクせずに$ctxに"
            "記録してはなりません。レコードを保存する前に、$codeで末尾$n文字以外を"
            "マスクしてください。",
        ),
        deny_inputs=(
            "Customer wrote: my phone number is 0170 5553412, please call back",
            "Log line: user e-mail address jane.doe@example.com failed to log in",
            "Attached passport number X1234567 for the identity check",
            "Ticket body contains the national ID 12345678 of the applicant",
        ),
        allow_inputs=(
            "Customer asks when the parcel will arrive",
            "Log line: request completed in 120 ms",
            "User reports that the dashboard loads slowly",
            "Invoice 4471 was paid on time",
        ),
    ),
    _Template(
        key="retention-deadline",
        scope="data-privacy",
        effect="deny",
        norms=("POL-PRIV-2.1", "POL-PRIV-2.2", "POL-PRIV-2"),
        pattern=r"(?i)\b(keep|retain|store)\w*\b.{0,60}\b(indefinitely|forever|permanently)\b",
        codes=("retention.purge()", "anonymise_record()"),
        title=(
            "Delete $ctx when their purpose ends",
            "Löschfristen für $ctx einhalten",
            "Supprimer les $ctx à la fin de leur finalité",
        ),
        text=(
            "Records in $ctx must be deleted or anonymised no later than $days days "
            "after their purpose has ended. Deletion is suspended only by a legal "
            "hold registered at $url.",
            "Datensätze in $ctx müssen spätestens $days Tage nach Wegfall des Zwecks "
            "gelöscht oder anonymisiert werden. Nur eine unter $url registrierte "
            "Aufbewahrungspflicht setzt die Löschung aus.",
            "Les enregistrements dans les $ctx doivent être supprimés ou anonymisés "
            "au plus tard $days jours après la fin de leur finalité. Seule une "
            "conservation légale enregistrée sur $url suspend la suppression.",
            "Los registros en $ctx deben eliminarse o anonimizarse a más tardar $days "
            "días después de que termine su finalidad. Solo una retención legal "
            "registrada en $url suspende la eliminación.",
            "$ctxのレコードは、目的の終了後$days日以内に削除または匿名化しなければ"
            "なりません。削除を停止できるのは、$urlに登録されたリーガルホールドのみです。",
        ),
        deny_inputs=(
            "We retain chat logs indefinitely in case we need them later",
            "Please keep these customer files forever on the shared drive",
            "The archive job stores exports permanently in the cold bucket",
        ),
        allow_inputs=(
            "Old tickets are deleted after 30 days by the cleanup job",
            "The export is anonymised before it is archived",
            "Legal hold LH-22 was registered for this matter",
        ),
    ),
    _Template(
        key="marketing-consent",
        scope="data-privacy",
        effect="deny",
        norms=("POL-PRIV-3.1", "POL-PRIV-3"),
        pattern=r"(?i)\b(newsletter|promotion|campaign)\b.{0,80}\bwithout (consent|opt-in)\b",
        codes=("consent.is_valid(contact)", "has_opt_in()"),
        title=(
            "Require consent for marketing messages",
            "Einwilligung für Marketingnachrichten verlangen",
            "Exiger le consentement pour les messages marketing",
        ),
        text=(
            "Marketing messages may be sent to {customer_name} only when an opt-in "
            "was recorded within the last $days days. Call $code and stop the "
            "campaign for that address when it returns false.",
            "Marketingnachrichten dürfen nur an {customer_name} gesendet werden, wenn "
            "innerhalb der letzten $days Tage eine Einwilligung erfasst wurde. Rufen "
            "Sie $code auf und stoppen Sie die Kampagne für diese Adresse, wenn der "
            "Aufruf false liefert.",
            "Les messages marketing ne peuvent être envoyés à {customer_name} que si "
            "un consentement a été enregistré au cours des $days derniers jours. "
            "Appelez $code et arrêtez la campagne pour cette adresse s'il renvoie "
            "false.",
            "Los mensajes de marketing solo pueden enviarse a {customer_name} si se "
            "registró un consentimiento en los últimos $days días. Llame a $code y "
            "detenga la campaña para esa dirección si devuelve false.",
            "マーケティングメッセージは、過去$days日以内にオプトインが記録されている場合に"
            "のみ{customer_name}に送信できます。$codeを呼び出し、falseが返された場合は"
            "そのアドレスへのキャンペーンを停止してください。",
        ),
        deny_inputs=(
            "Send the spring promotion to all leads without consent checks",
            "The back to school campaign goes to the full list without opt-in",
            "Add the imported contacts to the newsletter without consent",
        ),
        allow_inputs=(
            "Send the newsletter to subscribers who opted in last week",
            "Transactional receipt for order 5521",
            "Password reset email to the account owner",
        ),
    ),
    _Template(
        key="anonymised-aggregates",
        scope="data-privacy",
        effect="allow",
        norms=("POL-PRIV-1.2", "POL-PRIV-1"),
        pattern=r"(?i)\baggregat\w*\b.{0,80}\b(names?|e-?mails?|user ids?)\b",
        codes=("k_anonymity(groups)",),
        numbers=(10, 20, 50),
        title=(
            "Allow sharing of anonymised aggregates",
            "Weitergabe anonymisierter Aggregate erlauben",
            "Autoriser le partage d'agrégats anonymisés",
        ),
        text=(
            "Aggregated statistics from $ctx may be shared with partners when every "
            "group contains at least $n data subjects and no field identifies an "
            "individual.",
            "Aggregierte Statistiken aus $ctx dürfen an Partner weitergegeben werden, "
            "wenn jede Gruppe mindestens $n betroffene Personen umfasst und kein Feld "
            "eine Einzelperson identifiziert.",
            "Les statistiques agrégées issues des $ctx peuvent être partagées avec des "
            "partenaires si chaque groupe compte au moins $n personnes concernées et "
            "qu'aucun champ n'identifie un individu.",
            "Las estadísticas agregadas de $ctx pueden compartirse con socios cuando "
            "cada grupo contiene al menos $n interesados y ningún campo identifica a "
            "una persona.",
            "$ctxから得た集計統計は、各グループに少なくとも$n人のデータ主体が含まれ、"
            "個人を特定するフィールドがない場合に限り、パートナーと共有できます。",
        ),
        deny_inputs=(
            "Share the aggregated churn report including customer names",
            "The aggregate table still has user ids in the first column",
            "Aggregated export with emails attached for the agency",
        ),
        allow_inputs=(
            "Share the churn rate per region with the partner",
            "Counts per country with a minimum group size of 20",
            "Monthly statistics without identifiers",
        ),
    ),
    _Template(
        key="no-hardcoded-secrets",
        scope="security",
        effect="deny",
        norms=("POL-SEC-1.1", "POL-SEC-1.2", "POL-SEC-1"),
        pattern=r"(?i)(api[_-]?key|secret|password|token)\s*[:=]\s*\S{8,}",
        codes=("secrets.get(name)", "vault read", "load_secret()"),
        title=(
            "No hard-coded secrets in $ctx",
            "Keine fest codierten Geheimnisse in $ctx",
            "Aucun secret codé en dur dans les $ctx",
        ),
        text=(
            "API keys, passwords and access tokens must not be committed to $ctx. "
            "Load them at runtime from the secret store with $code and rotate any "
            "exposed credential within $hours hours.",
            "API-Schlüssel, Passwörter und Zugriffstoken dürfen nicht in $ctx "
            "eingecheckt werden. Laden Sie sie zur Laufzeit mit $code aus dem Secret "
            "Store und rotieren Sie offengelegte Zugangsdaten innerhalb von $hours "
            "Stunden.",
            "Les clés d'API, mots de passe et jetons d'accès ne doivent pas être "
            "versés dans les $ctx. Chargez-les à l'exécution depuis le coffre de "
            "secrets avec $code et renouvelez tout identifiant exposé sous $hours "
            "heures.",
            "Las claves de API, contraseñas y tokens de acceso no deben subirse a "
            "$ctx. Cárguelos en tiempo de ejecución desde el almacén de secretos con "
            "$code y rote cualquier credencial expuesta en un plazo de $hours horas.",
            "APIキー、パスワード、アクセストークンを$ctxにコミットしてはなりません。"
            "実行時に$codeでシークレットストアから読み込み、漏えいした認証情報は"
            "$hours時間以内にローテーションしてください。",
        ),
        deny_inputs=(
            "config.py: API_KEY = sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "password: Winter2024!Prod in values.yaml",
            "export GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a",
            "db secret=Zx9!kq77LmPP0 in the compose file",
        ),
        allow_inputs=(
            "The api key is loaded from the vault at startup",
            "Rotate the token every 90 days",
            "The password policy requires 12 characters",
        ),
    ),
    _Template(
        key="secure-transport",
        scope="security",
        effect="deny",
        norms=("POL-SEC-2.1", "POL-SEC-2"),
        pattern=r"(?i)(verify\s*=\s*false|insecure_?skip_?verify|\bsslv3\b|\btlsv?1\.[01]\b)",
        codes=("verify=False", "InsecureSkipVerify: true", "ssl_protocols TLSv1"),
        title=(
            "Block insecure transport settings",
            "Unsichere Transporteinstellungen blockieren",
            "Bloquer les paramètres de transport non sécurisés",
        ),
        text=(
            "Services defined in $ctx must accept only TLS 1.2 or newer and must not "
            "disable certificate verification. Settings such as $code are rejected; "
            "see $url for approved cipher suites.",
            "In $ctx definierte Dienste dürfen nur TLS 1.2 oder neuer akzeptieren und "
            "die Zertifikatsprüfung nicht abschalten. Einstellungen wie $code werden "
            "abgelehnt; zugelassene Cipher-Suites stehen unter $url.",
            "Les services définis dans les $ctx ne doivent accepter que TLS 1.2 ou "
            "plus récent et ne doivent pas désactiver la vérification des "
            "certificats. Les réglages comme $code sont refusés ; voir $url pour les "
            "suites de chiffrement approuvées.",
            "Los servicios definidos en $ctx solo deben aceptar TLS 1.2 o superior y "
            "no deben desactivar la verificación de certificados. Se rechazan ajustes "
            "como $code; consulte $url para las suites de cifrado aprobadas.",
            "$ctxで定義されたサービスはTLS 1.2以降のみを受け入れ、証明書の検証を無効に"
            "してはなりません。$codeのような設定は拒否されます。承認済みの暗号スイートは"
            "$urlを参照してください。",
        ),
        deny_inputs=(
            "requests.get(url, verify=False) in the billing client",
            "nginx: ssl_protocols TLSv1.1 TLSv1.2;",
            "tls: insecure_skip_verify: true for the staging proxy",
            "The legacy endpoint still negotiates SSLv3",
        ),
        allow_inputs=(
            "nginx: ssl_protocols TLSv1.2 TLSv1.3;",
            "Certificate pinned and verified against the internal CA",
            "Upgrade the load balancer policy to TLS 1.3",
        ),
    ),
    _Template(
        key="protected-branches",
        scope="security",
        effect="deny",
        norms=("POL-SEC-3.1", "POL-SEC-3"),
        pattern=r"(?i)git push\s+(-f\b|--force)",
        codes=("git push --force", "git push -f origin main", "git rebase -i --root"),
        numbers=(1, 2, 3),
        title=(
            "No force pushes to protected branches",
            "Kein Force-Push auf geschützte Branches",
            "Pas de force push sur les branches protégées",
        ),
        text=(
            "Force pushes and history rewrites on protected branches of $ctx are not "
            "allowed. Changes go through a reviewed merge request with at least $n "
            "approvals; commands such as $code are blocked.",
            "Force-Pushes und das Umschreiben der Historie auf geschützten Branches "
            "von $ctx sind nicht erlaubt. Änderungen laufen über einen geprüften "
            "Merge-Request mit mindestens $n Freigaben; Befehle wie $code werden "
            "blockiert.",
            "Les force push et la réécriture de l'historique sur les branches "
            "protégées des $ctx sont interdits. Les changements passent par une merge "
            "request revue avec au moins $n approbations ; les commandes comme $code "
            "sont bloquées.",
            "No se permiten force push ni reescrituras del historial en ramas "
            "protegidas de $ctx. Los cambios pasan por una merge request revisada con "
            "al menos $n aprobaciones; se bloquean comandos como $code.",
            "$ctxの保護ブランチへのforce pushや履歴の書き換えは禁止です。変更は少なくとも"
            "$n件の承認を得たレビュー済みのマージリクエストを経由し、$codeのようなコマンド"
            "はブロックされます。",
        ),
        deny_inputs=(
            "Ran git push --force origin main to fix the history",
            "Please git push -f to release/2.3 after the rebase",
            "Is git push --force-with-lease on main fine?",
        ),
        allow_inputs=(
            "git push origin feature/login-form",
            "Opened a merge request with two approvals",
            "Run git pull --rebase before pushing",
        ),
    ),
    _Template(
        key="dual-approval",
        scope="finance",
        effect="deny",
        norms=("POL-FIN-1.1", "POL-FIN-1.2", "POL-FIN-1"),
        pattern=r"(?i)(self-approv\w*|without (a )?second approv\w*|single approver)",
        codes=("convert_to_base_currency()", "fx_rate(booking_date)"),
        amounts=(5000, 10000, 25000, 50000),
        title=(
            "Second approval above $amount $cur",
            "Zweite Freigabe über $amount $cur",
            "Seconde approbation au-delà de $amount $cur",
        ),
        text=(
            "Payments in $ctx above $amount $cur, converted at the reference rate of "
            "the booking day, need a second approver. Use $code to convert foreign "
            "amounts before comparing them with the limit.",
            "Zahlungen in $ctx über $amount $cur, umgerechnet zum Referenzkurs des "
            "Buchungstags, benötigen eine zweite Freigabe. Rechnen Sie "
            "Fremdwährungsbeträge mit $code um, bevor Sie sie mit dem Limit "
            "vergleichen.",
            "Les paiements dans les $ctx au-delà de $amount $cur, convertis au taux de "
            "référence du jour de comptabilisation, nécessitent un second "
            "approbateur. Utilisez $code pour convertir les montants en devises avant "
            "de les comparer à la limite.",
            "Los pagos en $ctx superiores a $amount $cur, convertidos al tipo de "
            "referencia del día de registro, requieren un segundo aprobador. Use "
            "$code para convertir importes en divisa antes de compararlos con el "
            "límite.",
            "$ctxにおける$amount $curを超える支払いは、計上日の参照レートで換算したうえで、"
            "2人目の承認者が必要です。外貨建ての金額は、上限と比較する前に$codeで"
            "換算してください。",
        ),
        deny_inputs=(
            "Invoice of 18,400 USD self-approved by the budget owner",
            "Paid 25000 EUR without second approval because of the deadline",
            "A single approver signed off the 40k GBP transfer",
        ),
        allow_inputs=(
            "Second approver confirmed the 30,000 EUR transfer",
            "Amount converted at the reference rate before the review",
            "Payment of 250 EUR for office supplies",
        ),
    ),
    _Template(
        key="split-payments",
        scope="finance",
        effect="deny",
        norms=("POL-FIN-3", "POL-FIN-1.1"),
        pattern=r"(?i)\bsplit\w*\b.{0,60}\b(invoice|payment|claim|transfer)s?\b",
        codes=("sum_by_payee(days=30)",),
        amounts=(1000, 5000, 10000),
        title=(
            "Detect split payments below the limit",
            "Gesplittete Zahlungen unter dem Limit erkennen",
            "Détecter les paiements fractionnés sous la limite",
        ),
        text=(
            "Splitting one purchase into several $ctx to stay below the $amount $cur "
            "limit is not allowed. Payments to the same payee within $days days are "
            "added up before the limit check.",
            "Einen Kauf auf mehrere $ctx aufzuteilen, um unter dem Limit von $amount "
            "$cur zu bleiben, ist nicht erlaubt. Zahlungen an denselben Empfänger "
            "innerhalb von $days Tagen werden vor der Limitprüfung addiert.",
            "Il est interdit de fractionner un achat en plusieurs $ctx pour rester "
            "sous la limite de $amount $cur. Les paiements au même bénéficiaire sur "
            "$days jours sont additionnés avant le contrôle de la limite.",
            "No se permite repartir una compra entre varios registros de $ctx para "
            "quedar por debajo del límite de $amount $cur. Los pagos al mismo "
            "beneficiario en $days días se suman antes de comprobar el límite.",
            "$amount $curの上限を下回るために、1件の購入を複数の$ctxに分割することは"
            "禁止です。同じ支払先への$days日以内の支払いは、上限チェックの前に合算されます。",
        ),
        deny_inputs=(
            "Split the laptop order into two invoices so each stays under the limit",
            "We split payments to the caterer across three claims",
            "Splitting the transfer keeps it below the approval limit",
        ),
        allow_inputs=(
            "One invoice for the full laptop order",
            "Monthly payment to the caterer as agreed",
            "Transfer of 900 EUR for travel costs",
        ),
    ),
    _Template(
        key="business-meals",
        scope="finance",
        effect="allow",
        norms=("POL-FIN-2.1", "POL-FIN-2"),
        pattern=r"(?i)\b(no receipt|receipt missing|without (a )?receipt)\b",
        codes=("expense.attach_receipt()",),
        amounts=(50, 80, 120),
        title=(
            "Business meals up to $amount $cur are reimbursable",
            "Geschäftsessen bis $amount $cur sind erstattungsfähig",
            "Repas d'affaires remboursables jusqu'à $amount $cur",
        ),
        text=(
            "Business meals recorded in $ctx are reimbursed up to $amount $cur per "
            "attendee when the receipt names every guest. Alcohol above $pct of the "
            "bill is not reimbursed.",
            "In $ctx erfasste Geschäftsessen werden bis $amount $cur pro Teilnehmer "
            "erstattet, wenn der Beleg alle Gäste nennt. Alkohol über $pct der "
            "Rechnung wird nicht erstattet.",
            "Les repas d'affaires saisis dans les $ctx sont remboursés jusqu'à "
            "$amount $cur par participant lorsque le justificatif nomme chaque "
            "invité. L'alcool au-delà de $pct de l'addition n'est pas remboursé.",
            "Las comidas de negocios registradas en $ctx se reembolsan hasta $amount "
            "$cur por asistente cuando el recibo nombra a cada invitado. El alcohol "
            "por encima del $pct de la cuenta no se reembolsa.",
            "$ctxに記録された接待飲食費は、領収書に全参加者の氏名が記載されている場合、"
            "参加者1人あたり$amount $curまで払い戻されます。請求額の$pctを超える"
            "アルコール代は払い戻されません。",
        ),
        deny_inputs=(
            "Dinner with the client, receipt missing",
            "Team lunch 320 EUR, no receipt available",
            "Claimed the taxi and the meal without a receipt",
        ),
        allow_inputs=(
            "Client dinner, the receipt lists all four guests",
            "Lunch with a supplier, 45 EUR, receipt attached",
            "Coffee with a candidate, receipt uploaded",
        ),
    ),
    _Template(
        key="protected-attributes",
        scope="hr",
        effect="deny",
        norms=("POL-HR-1.1", "POL-HR-1"),
        pattern=(
            r"(?i)\b(young and dynamic|digital natives?|under \d{2} years"
            r"|recent graduates only|native speakers? only)\b"
        ),
        codes=(),
        title=(
            "Exclude protected attributes from $ctx",
            "Geschützte Merkmale aus $ctx heraushalten",
            "Exclure les attributs protégés des $ctx",
        ),
        text=(
            "Age, religion, pregnancy, nationality and other protected attributes "
            "must not be used as criteria in $ctx. Reviewers flag any wording that "
            "prefers candidates by such attributes.",
            "Alter, Religion, Schwangerschaft, Staatsangehörigkeit und andere "
            "geschützte Merkmale dürfen in $ctx nicht als Kriterien verwendet werden. "
            "Prüfer markieren jede Formulierung, die Bewerbende nach solchen "
            "Merkmalen bevorzugt.",
            "L'âge, la religion, la grossesse, la nationalité et les autres attributs "
            "protégés ne doivent pas servir de critères dans les $ctx. Les relecteurs "
            "signalent toute formulation qui favorise des candidats selon ces "
            "attributs.",
            "La edad, la religión, el embarazo, la nacionalidad y otros atributos "
            "protegidos no deben usarse como criterios en $ctx. Los revisores señalan "
            "cualquier redacción que favorezca a candidatos por esos atributos.",
            "年齢、宗教、妊娠、国籍その他の保護属性を$ctxの判断基準として使用しては"
            "なりません。レビュアーは、これらの属性で候補者を優遇する表現をすべて指摘します。",
        ),
        deny_inputs=(
            "We are looking for a young and dynamic team player",
            "Ideal for digital natives who love social media",
            "Native speakers only, please",
            "Recent graduates only for this role",
        ),
        allow_inputs=(
            "Fluent English is required for customer calls",
            "At least three years of experience with accounting",
            "Candidates of all backgrounds are welcome",
        ),
    ),
    _Template(
        key="salary-confidentiality",
        scope="hr",
        effect="deny",
        norms=("POL-HR-2.1", "POL-HR-2"),
        pattern=r"(?i)\b(salary|bonus|compensation)\b.{0,40}\b(\d{2,3}[,.]?\d{3}|\d+k)\b",
        codes=("hr-export --audited", "payroll.export_secure()"),
        title=(
            "Restrict access to salary data",
            "Zugriff auf Gehaltsdaten beschränken",
            "Restreindre l'accès aux données salariales",
        ),
        text=(
            "Salary and bonus figures for {employee_id} may be viewed only by the "
            "employee, their manager and HR. Never paste them into $ctx; export them "
            "only through $code with an audit entry kept for $days days.",
            "Gehalts- und Bonusangaben zu {employee_id} dürfen nur die Person selbst, "
            "ihre Führungskraft und HR einsehen. Fügen Sie sie nie in $ctx ein; "
            "exportieren Sie sie nur über $code mit einem Audit-Eintrag, der $days "
            "Tage aufbewahrt wird.",
            "Les salaires et primes de {employee_id} ne peuvent être consultés que "
            "par le salarié, son manager et les RH. Ne les collez jamais dans les "
            "$ctx ; exportez-les uniquement via $code avec une entrée d'audit "
            "conservée $days jours.",
            "Los salarios y bonos de {employee_id} solo pueden consultarlos la "
            "persona empleada, su responsable y RR. HH. Nunca los pegue en $ctx; "
            "expórtelos solo mediante $code con un registro de auditoría conservado "
            "durante $days días.",
            "{employee_id}の給与および賞与の金額は、本人、上司、人事部のみが閲覧できます。"
            "$ctxに貼り付けてはならず、エクスポートは$codeを通じてのみ行い、監査記録を"
            "$days日間保管してください。",
        ),
        deny_inputs=(
            "FYI her salary is 78,000 before the raise",
            "Bonus for the team lead: 12k this year",
            "Compensation of 95.000 agreed with the candidate",
        ),
        allow_inputs=(
            "Salary bands are published on the HR portal",
            "Bonus payouts happen in March",
            "The compensation review starts next quarter",
        ),
    ),
    _Template(
        key="remote-work",
        scope="hr",
        effect="allow",
        norms=("POL-HR-3",),
        pattern=None,
        codes=(),
        numbers=(2, 3),
        title=(
            "Remote work up to $n days per week",
            "Mobiles Arbeiten an bis zu $n Tagen pro Woche",
            "Télétravail jusqu'à $n jours par semaine",
        ),
        text=(
            "Employees may work remotely up to $n days per week when their manager "
            "agrees and the arrangement is recorded in $ctx. Working from abroad for "
            "more than $days days a year needs HR approval.",
            "Beschäftigte dürfen an bis zu $n Tagen pro Woche mobil arbeiten, wenn die "
            "Führungskraft zustimmt und die Vereinbarung in $ctx festgehalten ist. "
            "Arbeiten aus dem Ausland an mehr als $days Tagen im Jahr erfordert eine "
            "Freigabe durch HR.",
            "Les salariés peuvent télétravailler jusqu'à $n jours par semaine si leur "
            "manager l'accepte et que l'accord figure dans les $ctx. Travailler "
            "depuis l'étranger plus de $days jours par an nécessite l'accord des RH.",
            "Las personas empleadas pueden teletrabajar hasta $n días por semana si "
            "su responsable lo aprueba y el acuerdo consta en $ctx. Trabajar desde el "
            "extranjero más de $days días al año requiere la aprobación de RR. HH.",
            "従業員は、上司が同意し、その取り決めが$ctxに記録されている場合、週$n日まで"
            "リモートで勤務できます。年間$days日を超えて海外から勤務する場合は、人事部の"
            "承認が必要です。",
        ),
        deny_inputs=(
            "Working from another country for four months without telling HR",
            "Remote five days a week, my manager does not know",
        ),
        allow_inputs=(
            "Two remote days per week, agreed with my manager",
            "Working from home on Fridays as recorded",
            "Ten days abroad this year, approved by HR",
        ),
    ),
    _Template(
        key="doxxing",
        scope="content-moderation",
        effect="deny",
        norms=("POL-MOD-1.1", "POL-MOD-1"),
        pattern=r"(?i)\b(lives at|home address is|(his|her|their) address is)\b",
        codes=("moderation.remove(post_id)",),
        title=(
            "Remove doxxing in $ctx",
            "Doxing in $ctx entfernen",
            "Supprimer le doxing dans les $ctx",
        ),
        text=(
            "Content in $ctx that publishes another person's home address, phone "
            "number or workplace without consent is removed within $hours hours. "
            "Repeat offenders are suspended for $days days.",
            "Inhalte in $ctx, die ohne Einwilligung die Wohnadresse, Telefonnummer "
            "oder den Arbeitsplatz einer anderen Person veröffentlichen, werden "
            "innerhalb von $hours Stunden entfernt. Wiederholungstäter werden für "
            "$days Tage gesperrt.",
            "Les contenus des $ctx qui publient sans consentement l'adresse "
            "personnelle, le numéro de téléphone ou le lieu de travail d'une autre "
            "personne sont retirés sous $hours heures. Les récidivistes sont "
            "suspendus pendant $days jours.",
            "El contenido en $ctx que publique sin consentimiento la dirección "
            "particular, el teléfono o el lugar de trabajo de otra persona se retira "
            "en un plazo de $hours horas. Los reincidentes se suspenden durante "
            "$days días.",
            "$ctx内で、本人の同意なく他人の自宅住所、電話番号、勤務先を公開するコンテンツ"
            "は$hours時間以内に削除されます。違反を繰り返すユーザーは$days日間停止されます。",
        ),
        deny_inputs=(
            "Everyone should know she lives at 14 Elm Street",
            "His home address is 22 Baker Road, go and visit him",
            "Their address is on the flyer, spread it",
        ),
        allow_inputs=(
            "The shop's address is on its website",
            "Meet at the library on Elm Street",
            "I moved to a new flat last month",
        ),
    ),
    _Template(
        key="link-spam",
        scope="content-moderation",
        effect="deny",
        norms=("POL-MOD-2.1", "POL-MOD-2"),
        pattern=r"(?i)\b(bit\.ly|tinyurl\.com|free-crypto|cheap-meds)\b",
        codes=("spam.hold(post)",),
        numbers=(2, 3, 5),
        title=(
            "Block link spam in $ctx",
            "Link-Spam in $ctx blockieren",
            "Bloquer le spam de liens dans les $ctx",
        ),
        text=(
            "Posts in $ctx with more than $n external links, or with shortened links "
            "from accounts younger than $days days, are held for review. Domains on "
            "the list at $url are always blocked.",
            "Beiträge in $ctx mit mehr als $n externen Links oder mit gekürzten Links "
            "von Konten, die jünger als $days Tage sind, werden zur Prüfung "
            "zurückgehalten. Domains auf der Liste unter $url werden immer blockiert.",
            "Les publications des $ctx contenant plus de $n liens externes, ou des "
            "liens raccourcis venant de comptes de moins de $days jours, sont "
            "retenues pour examen. Les domaines de la liste publiée sur $url sont "
            "toujours bloqués.",
            "Las publicaciones en $ctx con más de $n enlaces externos, o con enlaces "
            "acortados de cuentas con menos de $days días, se retienen para "
            "revisión. Los dominios de la lista en $url siempre se bloquean.",
            "$ctxで外部リンクが$n件を超える投稿、または作成から$days日未満のアカウントに"
            "よる短縮リンクを含む投稿は、審査のため保留されます。$urlのリストにある"
            "ドメインは常にブロックされます。",
        ),
        deny_inputs=(
            "Earn 500% fast!!! bit.ly/3xYz9 click now",
            "Cheap watches at tinyurl.com/abcd1",
            "Visit free-crypto dot net for your prize",
        ),
        allow_inputs=(
            "Here is the manual: https://docs.example.com/setup",
            "Great product, arrived in two days",
            "See the FAQ on the vendor site",
        ),
    ),
    _Template(
        key="criticism-of-public-figures",
        scope="content-moderation",
        effect="allow",
        norms=("POL-MOD-3", "POL-MOD-1.2"),
        pattern=r"(?i)\b(i will|we will|gonna)\s+(find|hurt|get)\s+(you|him|her|them)\b",
        codes=(),
        title=(
            "Allow criticism of public figures",
            "Kritik an Personen des öffentlichen Lebens erlauben",
            "Autoriser la critique des personnalités publiques",
        ),
        text=(
            "Harsh criticism of public figures' public actions is allowed in $ctx as "
            "long as it contains no threats and no private information. Moderators "
            "escalate borderline cases within $hours hours.",
            "Scharfe Kritik am öffentlichen Handeln von Personen des öffentlichen "
            "Lebens ist in $ctx erlaubt, solange sie keine Drohungen und keine "
            "privaten Informationen enthält. Moderatoren eskalieren Grenzfälle "
            "innerhalb von $hours Stunden.",
            "La critique sévère des actes publics des personnalités publiques est "
            "autorisée dans les $ctx tant qu'elle ne contient ni menace ni "
            "information privée. Les modérateurs escaladent les cas limites sous "
            "$hours heures.",
            "La crítica dura de las actuaciones públicas de figuras públicas está "
            "permitida en $ctx siempre que no contenga amenazas ni información "
            "privada. Los moderadores escalan los casos dudosos en un plazo de "
            "$hours horas.",
            "公人の公的な行動に対する厳しい批判は、脅迫や私的な情報を含まない限り、$ctxで"
            "許可されます。モデレーターは判断が難しいケースを$hours時間以内に"
            "エスカレーションします。",
        ),
        deny_inputs=(
            "The mayor is useless and I will find him after the meeting",
            "We will get them for this vote",
        ),
        allow_inputs=(
            "The mayor's budget plan is a disaster",
            "This senator has broken every promise",
            "Worst policy decision of the decade",
        ),
    ),
    _Template(
        key="sole-source",
        scope="procurement",
        effect="deny",
        norms=("POL-PROC-1.1", "POL-PROC-1"),
        pattern=r"(?i)\b(sole[- ]source|single supplier|only one (quote|bid|supplier))\b",
        codes=("attach --type sole-source", "po.attach_justification()"),
        amounts=(10000, 25000, 50000, 100000),
        title=(
            "Justify single-source purchases above $amount $cur",
            "Einzelvergaben über $amount $cur begründen",
            "Justifier les achats à fournisseur unique au-delà de $amount $cur",
        ),
        text=(
            "Any entry in $ctx above $amount $cur that names only one supplier needs "
            "a written sole-source justification before approval. Attach it with "
            "$code; without it the buyer re-tenders within $days days.",
            "Jeder Eintrag in $ctx über $amount $cur, der nur einen Lieferanten nennt, "
            "braucht vor der Freigabe eine schriftliche Begründung der Einzelvergabe. "
            "Hängen Sie sie mit $code an; ohne sie schreibt der Einkauf innerhalb von "
            "$days Tagen neu aus.",
            "Toute entrée des $ctx au-delà de $amount $cur ne citant qu'un seul "
            "fournisseur exige une justification écrite de fournisseur unique avant "
            "approbation. Joignez-la avec $code ; sans elle, l'acheteur relance la "
            "consultation sous $days jours.",
            "Toda entrada en $ctx superior a $amount $cur que cite un solo proveedor "
            "necesita una justificación escrita de proveedor único antes de la "
            "aprobación. Adjúntela con $code; sin ella, el comprador vuelve a licitar "
            "en un plazo de $days días.",
            "$ctxのうち、$amount $curを超え、仕入先が1社のみの案件は、承認前に単独調達の"
            "理由書が必要です。$codeで添付してください。理由書がない場合、購買担当は"
            "$days日以内に再入札します。",
        ),
        deny_inputs=(
            "Only one quote received for the 80k server order, approve anyway",
            "Sole source: we always use this agency",
            "Single supplier for the 120,000 EUR licence renewal",
        ),
        allow_inputs=(
            "Three bids received, the lowest one was selected",
            "Framework agreement call-off for office chairs",
            "Tender closed with five qualified suppliers",
        ),
    ),
    _Template(
        key="supplier-due-diligence",
        scope="procurement",
        effect="deny",
        norms=("POL-PROC-2.1", "POL-PROC-2"),
        pattern=r"(?i)\b(not (yet )?onboarded|unvetted|sanctions? (hit|match))\b",
        codes=("sanctions.check(vendor)", "vendor-screen --strict"),
        title=(
            "Only onboarded suppliers in $ctx",
            "Nur freigegebene Lieferanten in $ctx",
            "Uniquement des fournisseurs référencés dans les $ctx",
        ),
        text=(
            "Entries in $ctx may only name suppliers that passed due diligence in the "
            "last $days days. A supplier such as {vendor_name} that appears on a "
            "sanctions list is rejected; check with $code.",
            "Einträge in $ctx dürfen nur Lieferanten nennen, die in den letzten $days "
            "Tagen die Due-Diligence-Prüfung bestanden haben. Ein Lieferant wie "
            "{vendor_name}, der auf einer Sanktionsliste steht, wird abgelehnt; "
            "prüfen Sie mit $code.",
            "Les entrées des $ctx ne peuvent citer que des fournisseurs ayant passé "
            "la due diligence au cours des $days derniers jours. Un fournisseur comme "
            "{vendor_name} figurant sur une liste de sanctions est refusé ; vérifiez "
            "avec $code.",
            "Las entradas en $ctx solo pueden citar proveedores que superaron la "
            "diligencia debida en los últimos $days días. Un proveedor como "
            "{vendor_name} que figure en una lista de sanciones se rechaza; "
            "compruébelo con $code.",
            "$ctxに記載できるのは、過去$days日以内にデューデリジェンスを通過した仕入先"
            "のみです。制裁リストに掲載されている{vendor_name}のような仕入先は拒否されます。"
            "$codeで確認してください。",
        ),
        deny_inputs=(
            "The new vendor is not onboarded yet but we need the parts tomorrow",
            "Screening shows a sanctions match for the freight forwarder",
            "Use the unvetted print shop for the flyers",
        ),
        allow_inputs=(
            "The vendor passed due diligence in May",
            "Screening returned no results",
            "Order from the approved stationery supplier",
        ),
    ),
    _Template(
        key="low-value-card-purchases",
        scope="procurement",
        effect="allow",
        norms=("POL-PROC-1.2", "POL-FIN-2"),
        pattern=r"(?i)\b(gift cards?|cash withdrawal|personal use)\b",
        codes=("card.upload_receipt()",),
        amounts=(100, 250, 500),
        title=(
            "Low-value purchases up to $amount $cur by card",
            "Kleinbeträge bis $amount $cur per Karte",
            "Petits achats jusqu'à $amount $cur par carte",
        ),
        text=(
            "Purchases up to $amount $cur may be paid with a corporate card without "
            "an entry in $ctx, provided the receipt is uploaded within $days days.",
            "Einkäufe bis $amount $cur dürfen ohne Eintrag in $ctx mit der Firmenkarte "
            "bezahlt werden, sofern der Beleg innerhalb von $days Tagen hochgeladen "
            "wird.",
            "Les achats jusqu'à $amount $cur peuvent être réglés par carte "
            "d'entreprise sans entrée dans les $ctx, à condition que le justificatif "
            "soit déposé sous $days jours.",
            "Las compras de hasta $amount $cur pueden pagarse con tarjeta corporativa "
            "sin registro en $ctx, siempre que el recibo se suba en un plazo de $days "
            "días.",
            "$amount $curまでの購入は、$days日以内に領収書をアップロードすれば、$ctxに"
            "登録せずに法人カードで支払うことができます。",
        ),
        deny_inputs=(
            "Bought gift cards for the team with the corporate card",
            "Cash withdrawal at the airport with the company card",
            "The card was charged for personal use by mistake",
        ),
        allow_inputs=(
            "Bought a 40 EUR cable at the electronics store",
            "Train ticket paid by card, receipt uploaded",
            "Printer toner for 65 EUR, receipt attached",
        ),
    ),
    _Template(
        key="customer-data-in-prompts",
        scope="ai-governance",
        effect="deny",
        norms=("POL-AI-1.1", "POL-AI-1", "POL-PRIV-1"),
        pattern=r"(?i)\b(account (number|no\.?)|iban|contract text|customer list)\b",
        codes=("llm_gateway.route()", "gateway --region eu"),
        title=(
            "No customer data in prompts to external models",
            "Keine Kundendaten in Prompts an externe Modelle",
            "Pas de données clients dans les prompts vers des modèles externes",
        ),
        text=(
            "Prompts sent from $ctx to external model providers must not contain "
            "customer data such as {customer_name}, account numbers or contract "
            "texts. Route such requests through $code, which keeps data in the EU "
            "region.",
            "Prompts, die aus $ctx an externe Modellanbieter gehen, dürfen keine "
            "Kundendaten wie {customer_name}, Kontonummern oder Vertragstexte "
            "enthalten. Leiten Sie solche Anfragen über $code, das die Daten in der "
            "EU-Region hält.",
            "Les prompts envoyés depuis les $ctx à des fournisseurs de modèles "
            "externes ne doivent contenir aucune donnée client comme {customer_name}, "
            "des numéros de compte ou des textes de contrat. Faites passer ces "
            "requêtes par $code, qui garde les données dans la région UE.",
            "Los prompts enviados desde $ctx a proveedores de modelos externos no "
            "deben contener datos de clientes como {customer_name}, números de cuenta "
            "o textos de contratos. Dirija esas solicitudes a través de $code, que "
            "mantiene los datos en la región de la UE.",
            "$ctxから外部のモデル提供者に送るプロンプトに、{customer_name}、口座番号、"
            "契約書本文などの顧客データを含めてはなりません。そのようなリクエストは、"
            "データをEUリージョン内に保持する$codeを経由させてください。",
        ),
        deny_inputs=(
            "Summarise this contract text for ACME and list their IBAN",
            "Prompt: here is the customer list with emails, group it by region",
            "Ask the model why account number 4417-22 was charged twice",
        ),
        allow_inputs=(
            "Prompt: write a polite reminder template without names",
            "Summarise our public pricing page",
            "Translate the release notes into German",
        ),
    ),
    _Template(
        key="human-review-of-decisions",
        scope="ai-governance",
        effect="deny",
        norms=("POL-AI-2.1", "POL-AI-2"),
        pattern=r"(?i)\b(auto-?reject\w*|automatically (declined|rejected)|no human review)\b",
        codes=("review_queue.enqueue()", "decision.escalate()"),
        title=(
            "Human review for automated decisions",
            "Menschliche Prüfung automatisierter Entscheidungen",
            "Revue humaine des décisions automatisées",
        ),
        text=(
            "Model outputs from $ctx must not reject a credit, job or insurance "
            "application on their own. A person reviews every negative decision "
            "within $hours hours, and a model confidence below $pct is always "
            "escalated with $code.",
            "Modellausgaben aus $ctx dürfen einen Kredit-, Bewerbungs- oder "
            "Versicherungsantrag nicht allein ablehnen. Eine Person prüft jede "
            "negative Entscheidung innerhalb von $hours Stunden, und eine "
            "Modellkonfidenz unter $pct wird immer mit $code eskaliert.",
            "Les sorties de modèle issues des $ctx ne doivent pas rejeter seules une "
            "demande de crédit, d'emploi ou d'assurance. Une personne examine chaque "
            "décision négative sous $hours heures, et une confiance du modèle "
            "inférieure à $pct est toujours escaladée avec $code.",
            "Las salidas de modelo de $ctx no deben rechazar por sí solas una "
            "solicitud de crédito, empleo o seguro. Una persona revisa cada decisión "
            "negativa en un plazo de $hours horas, y una confianza del modelo "
            "inferior al $pct siempre se escala con $code.",
            "$ctxのモデル出力だけで、融資、求人、保険の申請を却下してはなりません。"
            "否定的な判断はすべて$hours時間以内に人が確認し、モデルの信頼度が$pct未満の"
            "場合は必ず$codeでエスカレーションします。",
        ),
        deny_inputs=(
            "Loan application automatically declined by the scoring model",
            "Configure auto-reject for CVs below a score of 0.4",
            "Insurance claims are closed with no human review",
        ),
        allow_inputs=(
            "The model suggests a decision and the underwriter confirms it",
            "Flagged applications go to the review queue",
            "The score is explained to the applicant on request",
        ),
    ),
    _Template(
        key="ai-code-suggestions",
        scope="ai-governance",
        effect="allow",
        norms=("POL-AI-3.1", "POL-AI-3"),
        pattern=r"(?i)\b(gpl|agpl|copyleft)\b.{0,40}\b(snippet|suggestion|generated)\b",
        codes=("AI-Assisted: yes", "[ai-generated]"),
        numbers=(20, 50, 100),
        title=(
            "AI code suggestions allowed for internal code",
            "KI-Codevorschläge für internen Code erlaubt",
            "Suggestions de code par IA autorisées pour le code interne",
        ),
        text=(
            "Developers may accept suggestions from $ctx for internal code when the "
            "change is reviewed like any other. Generated code above $n lines is "
            "labelled with $code in the commit message.",
            "Entwickler dürfen Vorschläge aus $ctx für internen Code übernehmen, wenn "
            "die Änderung wie jede andere geprüft wird. Generierter Code mit mehr als "
            "$n Zeilen wird in der Commit-Nachricht mit $code gekennzeichnet.",
            "Les développeurs peuvent accepter les suggestions des $ctx pour le code "
            "interne si la modification est revue comme les autres. Le code généré de "
            "plus de $n lignes est signalé par $code dans le message de commit.",
            "Los desarrolladores pueden aceptar sugerencias de $ctx para código "
            "interno si el cambio se revisa como cualquier otro. El código generado "
            "de más de $n líneas se etiqueta con $code en el mensaje de commit.",
            "開発者は、変更を通常どおりレビューする場合に限り、社内コードに対する$ctxの"
            "提案を採用できます。$n行を超える生成コードには、コミットメッセージに$codeを"
            "付けます。",
        ),
        deny_inputs=(
            "Accepted a GPL licensed snippet from the suggestion panel",
            "AGPL code appeared in the generated patch",
            "A copyleft header showed up in the suggestion",
        ),
        allow_inputs=(
            "Suggestion accepted after review, 12 lines",
            "Generated unit tests for the parser",
            "The refactoring suggestion was rejected by the reviewer",
        ),
    ),
)

_EXTRAS: dict[str, L5] = {
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

_ROLES: tuple[L5, ...] = (
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
_TWIN_PREFIX: L5 = (
    "Exception for pilot teams:",
    "Ausnahme für Pilotteams:",
    "Exception pour les équipes pilotes :",
    "Excepción para equipos piloto:",
    "パイロットチーム向けの例外として、",
)
_TWIN_TITLE = ("Pilot exception", "Pilotausnahme", "Exception pilote")
_DAYS = (7, 14, 30, 45, 60, 90, 180, 365)
_HOURS = (4, 12, 24, 48, 72)
_PERCENTS = ("5%", "10%", "20%", "30%")
_CURRENCIES = ("EUR", "USD", "GBP", "CHF")
_EXCEPTION_DAYS = (14, 30, 90)
_REGIONS = ("EU", "US", "UK", "APAC", "LATAM")
_CANARY_PREFIXES = ("", "Ticket 4411: ", "Re: ", "From the QA queue: ", "Escalated: ")

_NORMS = _rows("""
    POL-CODE | Code of Business Conduct | Staff and systems act lawfully, protect the
      people whose data we hold and keep accurate records.
    POL-PRIV < POL-CODE | Data Protection Policy | Personal data is processed for
      stated purposes only and kept no longer than those purposes need.
    POL-PRIV-1 < POL-PRIV | Data minimisation | Collect and keep only the personal
      data a purpose needs.
    POL-PRIV-1.1 < POL-PRIV-1 | Masking in operational records | Operational records
      show personal identifiers only in masked form.
    POL-PRIV-1.2 < POL-PRIV-1 | Aggregated disclosure | Data leaving the company is
      aggregated so that no individual can be singled out.
    POL-PRIV-2 < POL-PRIV | Storage limitation | Personal data is deleted or
      anonymised when its purpose ends.
    POL-PRIV-2.1 < POL-PRIV-2 | Retention schedule | Every record type has a
      retention period in the retention schedule.
    POL-PRIV-2.2 < POL-PRIV-2 | Legal holds | A registered legal hold suspends
      deletion of the records it names.
    POL-PRIV-3 < POL-PRIV | Consent | Marketing relies on consent that can be shown
      and withdrawn.
    POL-PRIV-3.1 < POL-PRIV-3 | Consent records | Consent is recorded with its date,
      channel and wording.
    POL-SEC < POL-CODE | Information Security Policy | Systems are protected by least
      privilege, encryption and traceable change.
    POL-SEC-1 < POL-SEC | Secrets management | Credentials live in the secret store
      and nowhere else.
    POL-SEC-1.1 < POL-SEC-1 | No secrets in source | Source code and build files
      never contain credentials.
    POL-SEC-1.2 < POL-SEC-1 | Credential rotation | A credential that may have been
      exposed is rotated at once.
    POL-SEC-2 < POL-SEC | Secure transport | Data in transit is encrypted with
      current protocols.
    POL-SEC-2.1 < POL-SEC-2 | Minimum TLS version | Connections use TLS 1.2 or newer
      with verified certificates.
    POL-SEC-3 < POL-SEC | Change management | Every change to production is reviewed
      and traceable.
    POL-SEC-3.1 < POL-SEC-3 | Protected branches | Release branches accept only
      reviewed merges.
    POL-SEC-4 < POL-SEC POL-PRIV-1 | Logging and monitoring | Logs record security
      events without exposing personal data.
    POL-FIN < POL-CODE | Financial Controls Standard | Payments are authorised,
      recorded and reconciled under dual control.
    POL-FIN-1 < POL-FIN | Approval authority | Each payment is approved within the
      approver's delegated limit.
    POL-FIN-1.1 < POL-FIN-1 | Dual control | Payments above the threshold need two
      independent approvers.
    POL-FIN-1.2 < POL-FIN-1 | Currency conversion | Limits apply to amounts converted
      into the base currency.
    POL-FIN-2 < POL-FIN | Expense reimbursement | Business expenses are reimbursed
      against itemised receipts.
    POL-FIN-2.1 < POL-FIN-2 | Receipts | A claim without a receipt is not reimbursed.
    POL-FIN-3 < POL-FIN | Fraud prevention | Transactions are monitored for patterns
      that avoid controls.
    POL-HR < POL-CODE | People Policy | People are hired, paid and managed fairly and
      confidentially.
    POL-HR-1 < POL-HR | Equal opportunity | Decisions about people ignore protected
      attributes.
    POL-HR-1.1 < POL-HR-1 | Job advertisements | Job advertisements describe the role,
      not the person.
    POL-HR-2 < POL-HR POL-PRIV-1 | Confidential employee records | Employee records
      are visible only to those who need them.
    POL-HR-2.1 < POL-HR-2 | Compensation data | Pay data is shared only with the
      employee, their manager and HR.
    POL-HR-3 < POL-HR | Flexible work | Where the role allows, work may be done
      remotely by agreement.
    POL-MOD < POL-CODE | Community Guidelines | The community is a safe place for open
      discussion.
    POL-MOD-1 < POL-MOD | Safety of persons | Content must not put anyone at risk of
      harm.
    POL-MOD-1.1 < POL-MOD-1 POL-PRIV | Private information | Nobody's private contact
      or location details are published.
    POL-MOD-1.2 < POL-MOD-1 | Threats | Threats of violence are removed and reported.
    POL-MOD-2 < POL-MOD | Platform integrity | The platform is kept free of
      manipulation.
    POL-MOD-2.1 < POL-MOD-2 | Spam | Bulk, deceptive or repetitive links are held
      back.
    POL-MOD-3 < POL-MOD | Freedom of expression | Criticism and dissent are protected.
    POL-PROC < POL-CODE POL-FIN | Procurement Policy | Goods and services are bought
      competitively from vetted suppliers.
    POL-PROC-1 < POL-PROC | Competitive sourcing | Purchases are tendered unless an
      exception applies.
    POL-PROC-1.1 < POL-PROC-1 | Sole-source justification | Buying from one supplier
      without a tender needs a written reason.
    POL-PROC-1.2 < POL-PROC-1 | Low-value purchases | Small purchases may skip the
      purchase order process.
    POL-PROC-2 < POL-PROC | Supplier due diligence | Suppliers are screened before the
      first order.
    POL-PROC-2.1 < POL-PROC-2 | Sanctions screening | Suppliers on a sanctions list are
      never engaged.
    POL-AI < POL-CODE POL-PRIV | Responsible AI Standard | AI systems are used
      transparently, safely and under human oversight.
    POL-AI-1 < POL-AI POL-PRIV-1 | Data protection in model use | Models receive no
      more personal data than the task needs.
    POL-AI-1.1 < POL-AI-1 | External model providers | Customer data does not reach
      external model providers.
    POL-AI-2 < POL-AI | Human oversight | A person can review and overturn what a model
      decides.
    POL-AI-2.1 < POL-AI-2 | Automated decisions | Adverse decisions about people are
      confirmed by a person.
    POL-AI-3 < POL-AI POL-SEC-3 | Software supply chain | Generated code meets the same
      review and licence rules as any code.
    POL-AI-3.1 < POL-AI-3 | Licence hygiene | Generated code carrying an incompatible
      licence is not merged.
""")
"""The norms as ``id < parents | title | text``; parents always come earlier."""
_AMENDED_NORMS = {"POL-PRIV-1": 2, "POL-SEC-2.1": 3, "POL-FIN-1.2": 2, "POL-AI": 2}


@dataclass(frozen=True)
class CorrectionTheme:
    """A recurring complaint in corrections, phrased with a shared vocabulary.

    ``template`` marks alternatives as ``{a|b|c}``; every variant contains
    ``anchor``. ``recent`` corrections fall in the 14 days before ``now``,
    ``older`` ones before that. ``confidence`` holds the parameters of the beta
    distribution the confidences are drawn from.
    """

    key: str
    scope: str
    analysis_type: str
    anchor: str
    template: str
    recent: int
    older: int
    confidence: tuple[float, float]

    @property
    def expects_proposal(self) -> bool:
        """Whether the theme should become a proposal at ``now``."""
        mean = self.confidence[0] / sum(self.confidence)
        return self.recent >= 3 and mean > 0.8


_HIGH = (18.0, 2.5)
_LOW = (6.0, 5.0)
THEMES = (
    CorrectionTheme(
        "pii-in-logs",
        "data-privacy",
        "false_negative_review",
        "application log output",
        "{Customer|User|Subscriber} email addresses and phone numbers written to "
        "application log output should be {denied|blocked|flagged} because the "
        "rule currently {allows|ignores|misses} them",
        110,
        14,
        _HIGH,
    ),
    CorrectionTheme(
        "currency-thresholds",
        "finance",
        "false_positive_review",
        "after currency conversion",
        "Approval threshold for foreign currency {invoices|payments|claims} must be "
        "checked after currency conversion to the base currency, not on the "
        "{raw|original|nominal} amount in {USD|GBP|CHF}",
        90,
        12,
        _HIGH,
    ),
    CorrectionTheme(
        "secrets-in-code",
        "security",
        "false_negative_review",
        "name looks harmless",
        "API keys and access tokens {committed|pushed|merged} to source "
        "repositories should be denied {before|at} review even when the "
        "{variable|file|config} name looks harmless",
        80,
        10,
        _HIGH,
    ),
    CorrectionTheme(
        "sarcasm-flagged",
        "content-moderation",
        "false_positive_review",
        "wrongly flagged as harassment",
        "Sarcastic or quoted insults in {forum|product|comment} threads were "
        "wrongly flagged as harassment; the rule should allow them when the "
        "{context|thread|reply} clearly {mocks|quotes|reports} the original",
        70,
        8,
        _HIGH,
    ),
    CorrectionTheme(
        "contractor-checks",
        "hr",
        "policy_gap",
        "same background check rule",
        "External contractors and {freelancers|temps|interns} should follow the "
        "same background check rule as permanent employees before they get "
        "{access|badges|accounts} to {customer|payroll|production} systems",
        55,
        6,
        _HIGH,
    ),
    CorrectionTheme(
        "sole-source-renewals",
        "procurement",
        "policy_gap",
        "sole source justification",
        "Purchase orders from a single supplier above the {tender|approval|spending} "
        "limit need a written sole source justification, the rule does not "
        "{check|enforce|require} it for {renewals|extensions|amendments}",
        50,
        6,
        _HIGH,
    ),
    CorrectionTheme(
        "prompts-to-external-llms",
        "ai-governance",
        "false_negative_review",
        "external LLM providers",
        "Prompts that contain customer {names|contracts|identifiers} sent to "
        "external LLM providers should be denied unless routed through the "
        "{approved|internal|regional} gateway {first|instead|only}",
        65,
        8,
        _HIGH,
    ),
    CorrectionTheme(
        "incident-admin-access",
        "security",
        "false_positive_review",
        "temporary admin access",
        "Maybe temporary admin access during {incidents|outages|escalations} could "
        "be allowed without a ticket, unclear whether the "
        "{privileged|emergency|elevated} access rule {applies|covers|intends} this",
        40,
        5,
        _LOW,
    ),
    CorrectionTheme(
        "transcript-retention",
        "data-privacy",
        "policy_gap",
        "kept in the support archive",
        "Chat transcripts older than {30|60|90} days are still kept in the support "
        "archive although the retention rule says they should be "
        "{deleted|anonymised|purged} {automatically|promptly|nightly}",
        2,
        40,
        _HIGH,
    ),
)
"""The recurring themes; the last two should not become proposals at ``now``."""

_NOISE_SUBJECTS = (
    "The invoice scanner",
    "Weekend batch jobs",
    "Our Lisbon office",
    "The mobile onboarding flow",
    "Quarter-end reconciliation",
    "The translation memory tool",
    "Vendor portal uploads",
    "The legacy fax gateway",
    "Holiday rota planning",
    "Printer queue alerts",
    "The travel booking widget",
    "Warehouse barcode labels",
    "The intranet search box",
    "Parking permit requests",
    "The loyalty points engine",
    "Nightly CSV imports",
    "The recruiting chatbot",
    "Board meeting minutes",
    "The cafeteria menu feed",
    "Fleet telematics data",
    "The expense OCR step",
    "Visitor badge printing",
    "The helpdesk macro library",
    "Sustainability report drafts",
    "The podcast transcription job",
    "Shipping label generation",
    "The password reset page",
    "Training course feedback",
    "The customs declaration form",
    "Inventory forecast sheets",
)
_NOISE_PROBLEMS = (
    "produced a duplicate verdict",
    "timed out twice during review",
    "flagged an emoji as profanity",
    "ignored the regional exemption list",
    "reported the wrong cost centre",
    "treated a test account as real",
    "mixed up two time zones",
    "rounded a discount incorrectly",
    "copied an outdated disclaimer",
    "rejected a valid postcode format",
    "marked a holiday as overdue",
    "repeated a resolved warning",
    "used the old tax rate",
    "skipped the second language field",
    "misread a scanned signature",
    "counted a refund as revenue",
    "merged two unrelated tickets",
    "lost the attachment metadata",
    "accepted an expired certificate date",
    "split a surname at the hyphen",
    "showed internal notes externally",
    "sorted entries by the wrong column",
    "doubled the shipping weight",
    "truncated a long street name",
    "escalated a routine question",
    "kept a cancelled booking open",
    "mislabelled a draft as final",
    "applied the summer schedule early",
    "blocked a harmless file extension",
    "ignored a manual override",
)
_NOISE_CONTEXTS = (
    "after the March release",
    "for one Danish customer",
    "on a public holiday",
    "during the fire drill",
    "in the staging tenant only",
    "when the queue was empty",
    "for a single night shift",
    "after a browser update",
    "in the Portuguese locale",
    "during the office move",
    "for an intern account",
    "on the last day of the quarter",
    "when two reviewers overlapped",
    "in a very old archive",
    "during a power outage",
    "for a pilot customer in Chile",
    "while the VPN was down",
    "for a handwritten form",
    "after a daylight saving change",
    "on a shared tablet",
    "for a rebranded supplier",
    "during the annual audit",
    "in the beta mobile app",
    "for a leap day entry",
    "with an unusual currency symbol",
    "during a partial sync",
    "for a returned pallet",
    "on the training environment",
    "after a manual data fix",
    "for a merged company record",
)
_NOISE_COUNT = 280
_ANALYSIS_TYPES = ("false_positive_review", "false_negative_review", "policy_gap")


# Time: every instant is an integer count of seconds since the epoch, UTC.

_HOUR_WEIGHTS = (
    *(0.08, 0.06, 0.05, 0.05, 0.06, 0.1, 0.25, 0.5),
    *(0.8, 1.0, 1.0, 0.95, 0.85, 0.95, 1.0, 0.95),
    *(0.85, 0.7, 0.5, 0.35, 0.25, 0.18, 0.12, 0.1),
)
_WEEKDAY_WEIGHTS = (1.0, 1.0, 1.0, 0.95, 0.85, 0.35, 0.25)
"""Monday first; the epoch fell on a Thursday, hence the offset of 3 below."""


def _sample_time(rng: Random, start_s: int, end_s: int) -> int:
    """Draw a second in [start_s, end_s), denser on weekdays and in office hours."""
    while True:
        at_s = rng.randrange(start_s, end_s)
        day, second = divmod(at_s, DAY_S)
        weight = _WEEKDAY_WEIGHTS[(day + 3) % 7] * _HOUR_WEIGHTS[second // 3600]
        if rng.random() < weight:
            return at_s


def _iso(at_s: int) -> str:
    return datetime.fromtimestamp(at_s, UTC).isoformat()


def _age_days(plan: _Plan, now_s: int) -> float:
    return (now_s - plan.created_s) / DAY_S


# Rules: a plan per rule first, then its record.


@dataclass
class _Plan:
    """What the generator decided about one rule before writing it out."""

    index: int
    rule_id: str
    scope: _Scope
    template: _Template
    created_s: int
    locale: str
    status: str = "active"
    deprecated_s: int | None = None
    archetype: str = "normal"
    maturity: str = "experimental"
    legal_hold: bool = False
    neglected: bool = False
    has_pattern: bool = True
    parent: _Plan | None = None
    twin_of: _Plan | None = None
    ctx: int = 0
    role: int = 0
    region: str | None = None
    extras: list[str] = field(default_factory=list)
    slots: dict[str, str] = field(default_factory=dict)


_ARCHETYPE_QUOTAS = (
    ("dormant", 0.04, 60),
    ("never_fires", 0.03, 35),
    ("high_deny", 0.03, 30),
    ("high_fp", 0.04, 30),
    ("ineffective", 0.01, 30),
    ("shifting", 0.025, 30),
    ("quiet", 0.06, 30),
    ("busy", 0.08, 30),
    ("pristine", 0.12, 30),
)
"""Share of all rules and minimum age in days of each usage archetype."""


def _plan_rules(rng: Random, now_s: int, count: int) -> list[_Plan]:
    ages_s = sorted((_rule_age_s(rng) for _ in range(count)), reverse=True)
    by_scope = {s.name: [t for t in TEMPLATES if t.scope == s.name] for s in SCOPES}
    counters = dict.fromkeys(by_scope, 0)
    plans = []
    for index, age_s in enumerate(ages_s):
        scope = rng.choices(SCOPES, weights=[s.weight for s in SCOPES])[0]
        counters[scope.name] += 1
        rule_id = f"RR-{scope.code}-{counters[scope.name]:03d}"
        template = rng.choice(by_scope[scope.name])
        locale = rng.choices(("en", "de", "fr"), (80, 12, 8))[0]
        plans.append(_Plan(index, rule_id, scope, template, now_s - age_s, locale))

    _retire(plans, rng, now_s)
    _assign_archetypes(plans, rng, now_s)
    _link(plans, rng)
    for plan in plans:
        _fill(plan, plans, rng, now_s)

    return plans


def _rule_age_s(rng: Random) -> int:
    days = rng.uniform(1, 29) if rng.random() < 0.07 else rng.uniform(30, 730)
    return int(days * DAY_S)


def _retire(plans: list[_Plan], rng: Random, now_s: int) -> None:
    """Deprecate and archive some old rules, half of them long enough to archive."""
    old = [p for p in plans if _age_days(p, now_s) > 200]
    rng.shuffle(old)
    archived = max(2, round(0.01 * len(plans)))
    deprecated = max(4, round(0.07 * len(plans)))
    for position, plan in enumerate(old[: archived + deprecated]):
        long_ago = position < archived + deprecated // 2
        plan.status = "archived" if position < archived else "deprecated"
        if long_ago:
            plan.deprecated_s = rng.randrange(
                plan.created_s + 30 * DAY_S, now_s - 95 * DAY_S
            )
        else:
            plan.deprecated_s = rng.randrange(now_s - 85 * DAY_S, now_s - 2 * DAY_S)
        plan.archetype = "retired"
        plan.legal_hold = archived <= position < archived + 2


def _assign_archetypes(plans: list[_Plan], rng: Random, now_s: int) -> None:
    active = [p for p in plans if p.status == "active"]
    for plan in active:
        if _age_days(plan, now_s) < 30:
            plan.archetype = "new"
    pool = [p for p in active if p.archetype == "normal"]
    rng.shuffle(pool)
    for name, share, min_age in _ARCHETYPE_QUOTAS:
        eligible = [p for p in pool if _age_days(p, now_s) >= min_age]
        for plan in eligible[: max(2, round(share * len(plans)))]:
            plan.archetype = name
        pool = [p for p in pool if p.archetype == "normal"]

    dormant = [p for p in active if p.archetype == "dormant"]
    for plan in dormant[: (len(dormant) + 1) // 2]:
        plan.neglected = _age_days(plan, now_s) > 200
    for plan in rng.sample(active, min(3, len(active))):
        plan.legal_hold = True


def _link(plans: list[_Plan], rng: Random) -> None:
    """Derive some rules from earlier ones and make a few conflicting twins."""
    for child in rng.sample(plans, max(3, round(0.04 * len(plans)))):
        earlier = [p for p in plans[: child.index] if p.scope is child.scope]
        if earlier:
            child.parent = rng.choice(earlier)

    candidates = [p for p in plans if p.status == "active" and p.parent is None]
    twins = rng.sample(candidates, min(len(candidates), 5))
    for twin in twins:
        originals = [
            p
            for p in plans[: twin.index]
            if p.scope is twin.scope
            and p.status == "active"
            and p.template.effect == "deny"
            and p.template.pattern is not None
            and p not in twins
        ]
        if originals:
            twin.twin_of = rng.choice(originals)
            twin.template = twin.twin_of.template


def _fill(plan: _Plan, plans: Sequence[_Plan], rng: Random, now_s: int) -> None:
    template = plan.template
    plan.has_pattern = template.pattern is not None and (
        plan.twin_of is not None or rng.random() > 0.08
    )
    plan.maturity = _maturity(plan, rng, now_s)
    if plan.twin_of is None:
        plan.ctx = rng.randrange(len(plan.scope.contexts))
        plan.role = rng.randrange(len(_ROLES))
        plan.region = rng.choice(_REGIONS) if rng.random() < 0.5 else None
        plan.slots = _slots(plan, rng)
    else:
        original = plan.twin_of
        plan.ctx, plan.role, plan.region = original.ctx, original.role, original.region
        plan.slots = {**original.slots, "wiki": _wiki_url(plan)}
    plan.extras = _extras(plan, plans[: plan.index], rng)


def _maturity(plan: _Plan, rng: Random, now_s: int) -> str:
    age_days = _age_days(plan, now_s)
    if age_days < 30:
        return "experimental"
    if plan.archetype in ("high_fp", "ineffective") and age_days >= 60:
        return rng.choice(("stable", "proven"))
    weights = (60, 40, 0) if age_days < 90 else (20, 45, 35)

    return rng.choices(("experimental", "stable", "proven"), weights)[0]


def _wiki_url(plan: _Plan) -> str:
    return f"https://wiki.example.org/rules/{plan.rule_id.lower()}"


def _slots(plan: _Plan, rng: Random) -> dict[str, str]:
    template = plan.template
    return {
        "n": str(rng.choice(template.numbers)),
        "amount": str(rng.choice(template.amounts)),
        "days": str(rng.choice(_DAYS)),
        "hours": str(rng.choice(_HOURS)),
        "pct": rng.choice(_PERCENTS),
        "cur": rng.choice(_CURRENCIES),
        "exc_days": str(rng.choice(_EXCEPTION_DAYS)),
        "code": f"`{rng.choice(template.codes)}`" if template.codes else "",
        "url": f"https://policies.example.com/{plan.scope.name}/{template.key}",
        "wiki": _wiki_url(plan),
    }


def _extras(plan: _Plan, earlier: Sequence[_Plan], rng: Random) -> list[str]:
    """Pick the shared sentences a rule carries, with the rules they cite."""
    extras = []
    if plan.parent is not None:
        extras.append("refines")
        plan.slots["ref"] = plan.parent.rule_id
    if earlier and rng.random() < 0.12:
        extras.append("see_also")
        plan.slots["see"] = rng.choice(earlier).rule_id
    for name, chance in (("background", 0.3), ("notify", 0.15), ("exception", 0.25)):
        if rng.random() < chance:
            extras.append(name)

    return extras


def _render(
    plan: _Plan, locale: str, slots: dict[str, str], extras: Sequence[str]
) -> str:
    """Write a rule's text in one locale from its slots and extra sentences."""
    li = LOCALES.index(locale)
    values = {
        **slots,
        "ctx": plan.scope.contexts[plan.ctx][li],
        "role": _ROLES[plan.role][li],
    }
    parts = [Template(plan.template.text[li]).safe_substitute(values)]
    parts += [Template(_EXTRAS[name][li]).safe_substitute(values) for name in extras]
    if plan.twin_of is not None:
        parts.insert(0, _TWIN_PREFIX[li])

    return ("" if locale == "ja" else " ").join(parts)


def _title(plan: _Plan) -> str:
    li = ("en", "de", "fr").index(plan.locale)
    title = Template(plan.template.title[li]).safe_substitute(
        {**plan.slots, "ctx": plan.scope.contexts[plan.ctx][LOCALES.index(plan.locale)]}
    )
    if plan.region is not None:
        title = f"{title} ({plan.region})"
    if plan.twin_of is not None:
        title = f"{_TWIN_TITLE[li]}: {title}"

    return title


def _rule_records(
    plans: Sequence[_Plan], rng: Random, now_s: int
) -> list[dict[str, Any]]:
    broken = {p.index for p in rng.sample(plans, max(2, round(0.025 * len(plans))))}
    return [_rule_record(p, rng, now_s, p.index in broken) for p in plans]


def _rule_record(plan: _Plan, rng: Random, now_s: int, broken: bool) -> dict[str, Any]:
    version = _version(plan, rng, now_s)
    interval_days, reviewed_s = _review(plan, rng, now_s)
    required, translations = _translations(plan, rng, version)
    deprecated_at = None if plan.deprecated_s is None else _iso(plan.deprecated_s)
    return {
        "id": plan.rule_id,
        "title": _title(plan),
        "text": _render(plan, plan.locale, plan.slots, plan.extras),
        "locale": plan.locale,
        "version": version,
        "maturity": plan.maturity,
        "status": plan.status,
        "created_at": _iso(plan.created_s),
        "deprecated_at": deprecated_at,
        "review_interval_days": interval_days,
        "last_reviewed_at": None if reviewed_s is None else _iso(reviewed_s),
        "legal_hold": plan.legal_hold,
        "scope": plan.scope.name,
        "effect": "allow" if plan.twin_of else plan.template.effect,
        "pattern": plan.template.pattern if plan.has_pattern else None,
        "required_locales": required,
        "translations": translations,
        "derives_from": _derives_from(plan, rng),
        "examples": _examples(plan, rng, broken),
    }


def _version(plan: _Plan, rng: Random, now_s: int) -> int:
    if plan.neglected:
        return rng.randint(2, 4)
    if _age_days(plan, now_s) < 30:
        return rng.choices((1, 2), (85, 15))[0]

    return rng.choices((1, 2, 3, 4), (45, 30, 15, 10))[0]


def _review(plan: _Plan, rng: Random, now_s: int) -> tuple[int, int | None]:
    """Pick a review interval and a last review: recent, due, or long overdue."""
    if plan.neglected:
        return 90, None
    interval = rng.choices((90, 180, 365), (3, 4, 3))[0]
    states = ("fresh", "due", "late", "very_late", "never")
    state = rng.choices(states, (62, 15, 10, 8, 5))[0]
    lag_days = {
        "fresh": rng.uniform(0.05, 0.9) * interval,
        "due": interval + rng.uniform(0, 29),
        "late": interval + rng.uniform(30, 59),
        "very_late": interval + rng.uniform(60, 400),
    }.get(state)
    if lag_days is None:
        return interval, None
    reviewed_s = now_s - int(lag_days * DAY_S)

    return interval, reviewed_s if reviewed_s > plan.created_s else None


_TRANSLATION_STATES = ("current", "defective", "stale", "missing")


def _translations(
    plan: _Plan, rng: Random, version: int
) -> tuple[list[str], list[dict[str, Any]]]:
    """Choose the required locales and write current, stale or defective copies."""
    others = [loc for loc in LOCALES if loc != plan.locale]
    size = rng.choices((0, 1, 2, 3, 4), (15, 25, 25, 15, 20))[0]
    targets = set(rng.sample(others, max(size, 2) if plan.neglected else size))
    with_source = rng.random() < 0.7
    required = [
        loc for loc in LOCALES if loc in targets or (with_source and loc == plan.locale)
    ]
    extra = rng.choice(others) if rng.random() < 0.05 else None

    translations = []
    for locale in (loc for loc in LOCALES if loc in targets or loc == extra):
        weights = (0, 0, 60, 40) if plan.neglected else (58, 9, 20, 13)
        state = rng.choices(_TRANSLATION_STATES, weights)[0]
        if locale not in targets or (state == "stale" and version == 1):
            state = "current" if not plan.neglected else "missing"
        if state == "missing":
            continue
        source_version = rng.randint(1, version - 1) if state == "stale" else version
        text = _translated_text(plan, locale, state, rng)
        translations.append(
            {"locale": locale, "text": text, "source_version": source_version}
        )

    return required, translations


def _numeric_choices(plan: _Plan) -> dict[str, Sequence[object]]:
    """The numeric slots the rule's English text uses, with their other values."""
    choices: dict[str, Sequence[object]] = {
        "n": plan.template.numbers,
        "amount": plan.template.amounts,
        "days": _DAYS,
        "hours": _HOURS,
        "pct": _PERCENTS,
        "exc_days": _EXCEPTION_DAYS,
    }
    english = plan.template.text[0] + "".join(_EXTRAS[e][0] for e in plan.extras)
    return {k: v for k, v in choices.items() if f"${k}" in english and len(v) > 1}


def _shift_number(plan: _Plan, rng: Random) -> dict[str, str]:
    """Slots as an earlier version had them: one number differs."""
    choices = _numeric_choices(plan)
    if not choices:
        return plan.slots
    key = rng.choice(sorted(choices))
    other = rng.choice([str(v) for v in choices[key] if str(v) != plan.slots[key]])

    return {**plan.slots, key: other}


def _defects(plan: _Plan) -> list[str]:
    text = _render(plan, "en", plan.slots, plan.extras)
    candidates = {
        "number": bool(_numeric_choices(plan)),
        "placeholder": "{" in text,
        "code": "`" in text,
        "url": "https://" in text,
        "reference": "refines" in plan.extras or "see_also" in plan.extras,
    }
    return [name for name, present in candidates.items() if present]


def _translated_text(plan: _Plan, locale: str, state: str, rng: Random) -> str:
    """Translate a rule; a stale or defective copy differs the way real ones do."""
    slots, extras = plan.slots, plan.extras
    defect = rng.choice(_defects(plan) or ["number"]) if state == "defective" else None
    if state == "stale" or defect == "number":
        slots = _shift_number(plan, rng)
    elif defect == "reference":
        extras = [e for e in extras if e not in ("refines", "see_also")]
    elif defect == "url":
        slots = {
            **slots,
            "url": slots["url"].replace(".com/", f".com/{locale}/"),
            "wiki": slots["wiki"].replace("/rules/", f"/{locale}/rules/"),
        }
    text = _render(plan, locale, slots, extras)
    if defect == "code":
        return text.replace("`", "")
    if defect == "placeholder":
        return re.sub(r"\{(\w+)\}", r"\1", text, count=1)

    return text


def _derives_from(plan: _Plan, rng: Random) -> list[str]:
    norms = plan.template.norms
    first = norms[0] if rng.random() < 0.75 else rng.choice(norms)
    parents = [first]
    rest = [n for n in norms if n != first]
    if rest and rng.random() < 0.35:
        parents.append(rng.choice(rest))
    if plan.parent is not None:
        parents.append(plan.parent.rule_id)

    return parents


# Code examples, a few deliberately broken.


def _python_example(plan: _Plan) -> str:
    rule_id, pattern = plan.rule_id, plan.template.pattern
    if plan.has_pattern and pattern is not None:
        return (
            f'import re\n\nRULE_ID = "{rule_id}"\nPATTERN = re.compile(r"{pattern}")\n'
            f'\n\ndef evaluate(text: str) -> str:\n    """Return the verdict of {rule_id}'
            ' for one input."""\n    return "deny" if PATTERN.search(text) else "allow"\n'
        )
    return (
        f'RULE_ID = "{rule_id}"\n\n\ndef evaluate(findings: list[str]) -> str:\n'
        f'    """Return the verdict of {rule_id} from a reviewer\'s findings."""\n'
        '    return "deny" if findings else "allow"\n'
    )


def _javascript_example(plan: _Plan) -> str:
    pattern = plan.template.pattern
    if plan.has_pattern and pattern is not None:
        literal = pattern.removeprefix("(?i)").replace("/", r"\/")
        return (
            f"const PATTERN = /{literal}/i;\n\nexport function evaluate(text) {{\n"
            '  return PATTERN.test(text) ? "deny" : "allow";\n}\n'
        )
    return (
        f'export const RULE_ID = "{plan.rule_id}";\n\n'
        "export function evaluate(findings) {\n"
        '  return findings.length > 0 ? "deny" : "allow";\n}\n'
    )


def _json_example(plan: _Plan) -> str:
    case: dict[str, Any] = {"rule_id": plan.rule_id}
    if plan.has_pattern:
        case |= {"input": plan.template.deny_inputs[0], "expected_verdict": "deny"}
    else:
        case |= {"scope": plan.scope.name, "effect": plan.template.effect}
    return json.dumps(case, indent=2, ensure_ascii=False) + "\n"


def _yaml_example(plan: _Plan) -> str:
    return (
        f"rule: {plan.rule_id}\nscope: {plan.scope.name}\n"
        f"effect: {plan.template.effect}\nmaturity: {plan.maturity}\n"
        f"locales:\n  - {plan.locale}\n"
    )


def _sql_example(plan: _Plan) -> str:
    return (
        "SELECT verdict, count(*) AS evaluations\nFROM evaluations\n"
        f"WHERE rule_id = '{plan.rule_id}'\n"
        "  AND created_at >= now() - interval '30 days'\nGROUP BY verdict;\n"
    )


_EXAMPLE_WRITERS: dict[str, Callable[[_Plan], str]] = {
    "python": _python_example,
    "javascript": _javascript_example,
    "json": _json_example,
    "yaml": _yaml_example,
    "sql": _sql_example,
}
_EXAMPLE_BREAKERS: dict[str, Callable[[str], str]] = {
    "python": lambda code: code.replace(") -> str:", ") -> str", 1),
    "javascript": lambda code: code.rstrip().removesuffix("}"),
    "json": lambda code: code.replace("\n}", ",\n}"),
    "yaml": lambda code: code + "tags: [draft, review\n",
    "sql": lambda code: code.replace("count(*)", "count(*", 1),
}


def _examples(plan: _Plan, rng: Random, broken: bool) -> list[dict[str, str]]:
    count = rng.choices((0, 1, 2, 3), (30, 35, 25, 10))[0]
    languages = rng.sample(sorted(_EXAMPLE_WRITERS), max(count, 1) if broken else count)
    examples = [
        {"language": lang, "code": _EXAMPLE_WRITERS[lang](plan)} for lang in languages
    ]
    if broken:
        example = rng.choice(examples)
        example["code"] = _EXAMPLE_BREAKERS[example["language"]](example["code"])

    return examples


# Evaluations and judgments.


@dataclass(frozen=True)
class _Profile:
    """How an archetype's rules are used, as ranges to draw each rule's figures from.

    ``volume`` counts evaluations over a full 90-day window, ``deny`` is the deny
    share, ``fp`` and ``fn`` the chances that a judged deny or allow is wrong, and
    ``judge`` the chances that a deny and an allow are judged at all.
    """

    volume: tuple[int, int]
    deny: tuple[float, float]
    fp: tuple[float, float]
    fn: tuple[float, float]
    judge: tuple[float, float]


_NORMAL = _Profile((60, 450), (0.03, 0.35), (0.02, 0.1), (0.0, 0.06), (0.35, 0.08))
_PROFILES = {
    "new": _Profile((180, 1080), (0.05, 0.3), (0.0, 0.08), (0.0, 0.05), (0.35, 0.08)),
    "busy": _Profile((800, 2200), (0.05, 0.3), (0.01, 0.06), (0.0, 0.05), (0.3, 0.06)),
    "normal": _NORMAL,
    "retired": _NORMAL,
    "pristine": _Profile((40, 300), (0.05, 0.3), (0.0, 0.0), (0.0, 0.03), (0.35, 0.08)),
    "quiet": _Profile((4, 18), (0.0, 0.3), (0.0, 0.1), (0.0, 0.1), (0.3, 0.1)),
    "dormant": _Profile((30, 160), (0.05, 0.3), (0.0, 0.05), (0.0, 0.05), (0.2, 0.05)),
    "never_fires": _Profile(
        (240, 480), (0.0, 0.0), (0.0, 0.0), (0.0, 0.08), (0.0, 0.08)
    ),
    "high_deny": _Profile(
        (150, 600), (0.55, 0.85), (0.02, 0.1), (0.0, 0.05), (0.3, 0.08)
    ),
    "high_fp": _Profile((100, 500), (0.2, 0.4), (0.35, 0.6), (0.05, 0.15), (0.5, 0.08)),
    "ineffective": _Profile((150, 400), (0.6, 0.7), (0.8, 0.9), (0.4, 0.6), (0.5, 0.1)),
    "shifting": _Profile(
        (300, 900), (0.05, 0.12), (0.0, 0.06), (0.0, 0.05), (0.3, 0.06)
    ),
}


@dataclass(frozen=True)
class _Usage:
    """One rule's drawn figures; ``deny_recent`` applies to the last 7 days."""

    volume: int
    deny: float
    deny_recent: float
    fp: float
    fn: float
    judge_deny: float
    judge_allow: float


def _usage(plan: _Plan, rng: Random) -> _Usage:
    profile = _PROFILES[plan.archetype]
    deny = rng.uniform(*profile.deny)
    deny_recent = deny
    if plan.archetype == "shifting":
        deny_recent = rng.uniform(0.45, 0.65)
        if rng.random() < 0.5:
            deny, deny_recent = deny_recent, deny
    judge = (0.0, 0.0) if plan.neglected else profile.judge

    return _Usage(
        rng.randint(*profile.volume),
        deny,
        deny_recent,
        rng.uniform(*profile.fp),
        rng.uniform(*profile.fn),
        *judge,
    )


def _rule_evaluations(
    plan: _Plan, usage: _Usage, rng: Random, now_s: int
) -> list[tuple[int, bool]]:
    """Draw a rule's evaluations as (second, denied), between its creation and end."""
    start_s = max(now_s - WINDOW_DAYS * DAY_S + 1, plan.created_s + 3600)
    end_s = now_s if plan.deprecated_s is None else min(now_s, plan.deprecated_s)
    if plan.archetype == "dormant":
        end_s = min(end_s, now_s - 31 * DAY_S - rng.randrange(20 * DAY_S))
    if end_s - start_s < 3600:
        return []
    recent_s = now_s - 7 * DAY_S
    cuts = {start_s, end_s} | {
        c for c in (now_s - 30 * DAY_S, recent_s) if start_s < c < end_s
    }
    bounds = sorted(cuts)

    drawn = []
    for a, b in pairwise(bounds):
        count = round(usage.volume * (b - a) / (WINDOW_DAYS * DAY_S))
        deny = usage.deny_recent if a >= recent_s else usage.deny
        drawn += [(_sample_time(rng, a, b), rng.random() < deny) for _ in range(count)]

    return drawn


@dataclass
class _Activity:
    evaluations: list[dict[str, Any]]
    judgments: list[dict[str, Any]]
    times_by_rule: list[list[int]]
    ids_by_rule: list[list[str]]


def _activity(plans: Sequence[_Plan], rng: Random, now_s: int) -> _Activity:
    """Draw every evaluation and judgment, numbered in the order they happened."""
    usages = [_usage(p, rng) for p in plans]
    rows = [
        (at_s, plan.index, denied)
        for plan, usage in zip(plans, usages, strict=True)
        for at_s, denied in _rule_evaluations(plan, usage, rng, now_s)
    ]
    rows.sort()
    activity = _Activity([], [], [[] for _ in plans], [[] for _ in plans])
    judged: list[tuple[int, str, str]] = []
    for number, (at_s, index, denied) in enumerate(rows, start=1):
        evaluation_id = f"ev-{number:07d}"
        activity.evaluations.append(
            {
                "id": evaluation_id,
                "rule_id": plans[index].rule_id,
                "verdict": "deny" if denied else "allow",
                "created_at": _iso(at_s),
            }
        )
        activity.times_by_rule[index].append(at_s)
        activity.ids_by_rule[index].append(evaluation_id)
        judged += _judge(usages[index], at_s, evaluation_id, denied, rng, now_s)

    judged.sort()
    activity.judgments = [
        {
            "id": f"jd-{n:06d}",
            "evaluation_id": ev,
            "outcome": outcome,
            "created_at": _iso(at_s),
        }
        for n, (at_s, ev, outcome) in enumerate(judged, start=1)
    ]
    return activity


def _judge(
    usage: _Usage, at_s: int, evaluation_id: str, denied: bool, rng: Random, now_s: int
) -> list[tuple[int, str, str]]:
    """Maybe review one evaluation some hours later; nothing if not yet reviewed."""
    if rng.random() >= (usage.judge_deny if denied else usage.judge_allow):
        return []
    judged_s = at_s + 300 + int(rng.expovariate(1 / (20 * 3600)))
    if judged_s >= now_s:
        return []
    wrong = rng.random() < (usage.fp if denied else usage.fn)
    outcome = ("false_positive" if denied else "false_negative") if wrong else "correct"

    return [(judged_s, evaluation_id, outcome)]


# Corrections: recurring themes and one-off noise.


def _paraphrase(template: str, rng: Random) -> str:
    return re.sub(r"\{([^}]*)\}", lambda m: rng.choice(m.group(1).split("|")), template)


def _noise_summaries(rng: Random, count: int) -> list[str]:
    """One-off summaries; no two share more than one of their three phrases."""
    seen: set[tuple[int, int, int, int]] = set()
    summaries: list[str] = []
    while len(summaries) < count:
        a = rng.randrange(len(_NOISE_SUBJECTS))
        b = rng.randrange(len(_NOISE_PROBLEMS))
        c = rng.randrange(len(_NOISE_CONTEXTS))
        pairs = {(0, a, 1, b), (0, a, 2, c), (1, b, 2, c)}
        if pairs & seen:
            continue
        seen |= pairs
        summaries.append(
            f"{_NOISE_SUBJECTS[a]} {_NOISE_PROBLEMS[b]} {_NOISE_CONTEXTS[c]}"
        )

    return summaries


def _correction_time(rng: Random, now_s: int, recent: bool) -> int:
    if recent:
        return _sample_time(rng, now_s - CORRECTION_WINDOW_DAYS * DAY_S + 1, now_s)
    return _sample_time(
        rng, now_s - 75 * DAY_S, now_s - CORRECTION_WINDOW_DAYS * DAY_S - 3600
    )


def _correction_status(rng: Random, recent: bool) -> str:
    weights = (88, 7, 5) if recent else (30, 50, 20)
    return rng.choices(("unprocessed", "processed", "triaged"), weights)[0]


def _correction_subject(
    plans: Sequence[_Plan], activity: _Activity, at_s: int, rng: Random
) -> tuple[str | None, str | None]:
    """Name the rule a correction is about and, often, the evaluation it corrects."""
    if not plans or rng.random() >= 0.75:
        return None, None
    plan = rng.choice(plans)
    times = activity.times_by_rule[plan.index]
    before = bisect_left(times, at_s)
    if before == 0 or rng.random() >= 0.6:
        return plan.rule_id, None
    chosen = rng.randrange(max(0, before - 200), before)

    return plan.rule_id, activity.ids_by_rule[plan.index][chosen]


def _correction(
    at_s: int,
    summary: str,
    analysis: str,
    status: str,
    confidence: float,
    subject: tuple[str | None, str | None],
) -> dict[str, Any]:
    """A correction record; its id is given once all are in time order."""
    return {
        "id": "",
        "rule_id": subject[0],
        "evaluation_id": subject[1],
        "analysis_type": analysis,
        "status": status,
        "delta_summary": summary,
        "confidence": round(confidence, 3),
        "created_at": _iso(at_s),
    }


def _theme_corrections(
    theme: CorrectionTheme,
    rules: Sequence[_Plan],
    activity: _Activity,
    rng: Random,
    now_s: int,
) -> list[dict[str, Any]]:
    corrections = []
    for position in range(theme.recent + theme.older):
        recent = position < theme.recent
        at_s = _correction_time(rng, now_s, recent)
        analysis = theme.analysis_type
        if rng.random() > 0.85:
            analysis = rng.choice(_ANALYSIS_TYPES)
        confidence = rng.betavariate(*theme.confidence)
        summary = _paraphrase(theme.template, rng)
        subject = _correction_subject(rules, activity, at_s, rng)
        status = _correction_status(rng, recent)
        corrections.append(
            _correction(at_s, summary, analysis, status, confidence, subject)
        )

    return corrections


def _noise_corrections(
    rules: Sequence[_Plan], activity: _Activity, rng: Random, now_s: int
) -> list[dict[str, Any]]:
    corrections = []
    for summary in _noise_summaries(rng, _NOISE_COUNT):
        at_s = _correction_time(rng, now_s, recent=rng.random() < 0.75)
        status = _correction_status(rng, at_s >= now_s - CORRECTION_WINDOW_DAYS * DAY_S)
        confidence = rng.uniform(0.3, 0.95)
        subject = _correction_subject(rules, activity, at_s, rng)
        analysis = rng.choice(_ANALYSIS_TYPES)
        corrections.append(
            _correction(at_s, summary, analysis, status, confidence, subject)
        )

    return corrections


def _corrections(
    plans: Sequence[_Plan], activity: _Activity, rng: Random, now_s: int
) -> list[dict[str, Any]]:
    """The themes' corrections and the noise, numbered in the order they were made."""
    active = [p for p in plans if p.status == "active"]
    corrections = []
    for theme in THEMES:
        in_scope = [p for p in active if p.scope.name == theme.scope]
        corrections += _theme_corrections(theme, in_scope, activity, rng, now_s)
    corrections += _noise_corrections(active, activity, rng, now_s)

    # Every timestamp has the same format and zone, so text order is time order.
    corrections.sort(key=lambda c: str(c["created_at"]))
    for number, correction in enumerate(corrections, start=1):
        correction["id"] = f"cr-{number:05d}"

    return corrections


# Canaries.


def _rule_canaries(plan: _Plan, drifting: bool, rng: Random) -> list[tuple[str, str]]:
    """5 to 8 inputs with the verdict the local evaluator gives, some flipped if drifting."""
    template = plan.template
    count = rng.randint(5, 8)
    denials = rng.randint(2, min(4, count - 2))
    deny = [p + text for p in _CANARY_PREFIXES for text in template.deny_inputs]
    allow = [p + text for p in _CANARY_PREFIXES for text in template.allow_inputs]
    inputs = rng.sample(deny, denials) + rng.sample(allow, count - denials)
    expected = ["deny"] * denials + ["allow"] * (count - denials)
    if plan.has_pattern and template.pattern is not None:
        matcher = re.compile(template.pattern)
        expected = ["deny" if matcher.search(text) else "allow" for text in inputs]
    if drifting:
        for position in rng.sample(range(count), count // 3 + 1):
            expected[position] = "allow" if expected[position] == "deny" else "deny"
    pairs = list(zip(inputs, expected, strict=True))
    rng.shuffle(pairs)

    return pairs


def _canaries(plans: Sequence[_Plan], rng: Random) -> list[dict[str, Any]]:
    """Canaries for most active rules with a pattern and for two without one."""
    active = [p for p in plans if p.status == "active"]
    with_pattern = [p for p in active if p.has_pattern]
    drifting = {p.index for p in rng.sample(with_pattern, min(len(with_pattern), 6))}
    unevaluable = {p.index for p in active if not p.has_pattern}
    unevaluable = set(sorted(unevaluable)[:2])

    pairs: list[tuple[str, str, str]] = []
    for plan in active:
        chosen = plan.index in drifting or plan.index in unevaluable
        if chosen or (plan.has_pattern and rng.random() < 0.92):
            canaries = _rule_canaries(plan, plan.index in drifting, rng)
            pairs += [(plan.rule_id, text, verdict) for text, verdict in canaries]

    return [
        {
            "id": f"cn-{n:05d}",
            "rule_id": rule_id,
            "input": text,
            "expected_verdict": verdict,
        }
        for n, (rule_id, text, verdict) in enumerate(pairs, start=1)
    ]


# The snapshot.


def _norm_records() -> list[dict[str, Any]]:
    records = []
    for head, title, text in _NORMS:
        norm_id, _, parents = head.partition("<")
        norm_id = norm_id.strip()
        records.append(
            {
                "id": norm_id,
                "title": title,
                "text": text,
                "version": _AMENDED_NORMS.get(norm_id, 1),
                "derives_from": parents.split(),
            }
        )

    return records


def generate_sample(
    *, now: datetime, seed: int = 7, rules: int = 320
) -> dict[str, Any]:
    """Generate a sample repository whose history leads up to ``now``.

    Args:
        now: The logical present, timezone-aware; every timestamp falls before it
            and evaluations and judgments within the 90 days before it.
        seed: Seeds the one random generator everything is drawn from.
        rules: How many rules to write. The default gives about 90,000 evaluations;
            the corrections and norms do not scale with it.

    Returns:
        A snapshot dict in the format of DESIGN §6, ready for ``json.dumps``.

    Raises:
        ValueError: ``now`` is naive or ``rules`` is below 1.
    """
    if now.utcoffset() is None:
        msg = f"now must be timezone-aware, got {now.isoformat()}; pass tzinfo=UTC"
        raise ValueError(msg)
    if rules < 1:
        msg = f"rules must be at least 1, got {rules}"
        raise ValueError(msg)
    rng = Random(seed)
    now_s = floor(now.timestamp())

    plans = _plan_rules(rng, now_s, rules)
    rule_records = _rule_records(plans, rng, now_s)
    activity = _activity(plans, rng, now_s)

    return {
        "locales": list(LOCALES),
        "norms": _norm_records(),
        "rules": rule_records,
        "evaluations": activity.evaluations,
        "judgments": activity.judgments,
        "corrections": _corrections(plans, activity, rng, now_s),
        "canaries": _canaries(plans, rng),
    }


def write_sample(path: Path, **kw: Any) -> Path:
    """Write ``generate_sample(**kw)`` to ``path`` as UTF-8 JSON and return the path."""
    snapshot = generate_sample(**kw)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(snapshot, ensure_ascii=False), encoding="utf-8")
    logger.info(
        "sample repository written to %s: %d rules, %d evaluations",
        path,
        len(snapshot["rules"]),
        len(snapshot["evaluations"]),
        extra={"event": "sample.written"},
    )

    return path
