"""The procurement scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "procurement",
    "PROC",
    0.1,
    parse_phrases("""
        purchase orders | Bestellungen | bons de commande | órdenes de compra | 発注書
        tenders | Ausschreibungen | appels d'offres | licitaciones | 入札
        purchase requisitions | Bestellanforderungen | demandes d'achat
          | solicitudes de compra | 購買依頼
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
)
