"""The finance scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "finance",
    "FIN",
    0.15,
    parse_phrases("""
        expense claims | Spesenabrechnungen | notes de frais | notas de gastos | 経費精算
        supplier invoices | Lieferantenrechnungen | factures fournisseurs
          | facturas de proveedores | 仕入先請求書
        bank transfers | Überweisungen | virements | transferencias | 銀行振込
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
)
