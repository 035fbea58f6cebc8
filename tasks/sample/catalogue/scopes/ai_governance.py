"""The ai-governance scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "ai-governance",
    "AI",
    0.1,
    parse_phrases("""
        chat assistants | Chat-Assistenten | assistants conversationnels
          | asistentes de chat | チャットアシスタント
        code completion tools | Code-Vervollständigungstools
          | outils de complétion de code | herramientas de autocompletado
          | コード補完ツール
        summarisation pipelines | Zusammenfassungs-Pipelines | pipelines de résumé
          | flujos de resumen | 要約パイプライン
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
