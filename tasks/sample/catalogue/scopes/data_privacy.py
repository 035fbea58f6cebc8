"""The data-privacy scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "data-privacy",
    "PRIV",
    0.2,
    parse_phrases("""
        support tickets | Support-Tickets | tickets de support | tickets de soporte
          | サポートチケット
        chat transcripts | Chat-Transkriptionen | transcriptions de chat
          | transcripciones de chat | チャット記録
        customer files | Kundenakten | dossiers clients | expedientes de clientes
          | 顧客ファイル
        analytics events | Analyse-Events | événements analytiques
          | eventos de analítica | 分析イベント
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
)
