"""The hr scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "hr",
    "HR",
    0.1,
    parse_phrases("""
        job postings | Stellenanzeigen | offres d'emploi | ofertas de empleo | 求人票
        performance reviews | Leistungsbeurteilungen | évaluations de performance
          | evaluaciones de desempeño | 人事評価
        interview notes | Interviewnotizen | notes d'entretien | notas de entrevista
          | 面接メモ
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
)
