"""The content-moderation scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "content-moderation",
    "MOD",
    0.15,
    parse_phrases("""
        forum posts | Foren-Posts | messages de forum | publicaciones del foro
          | フォーラム投稿
        product reviews | Produktbewertungen | avis produits | reseñas de productos
          | 商品レビュー
        direct messages | Direktnachrichten | messages privés | mensajes directos
          | ダイレクトメッセージ
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
)
