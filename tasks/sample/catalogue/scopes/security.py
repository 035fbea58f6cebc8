"""The security scope: where its rules apply, and its rule templates."""

from tasks.sample.catalogue.definitions import RuleTemplate, Scope
from tasks.sample.catalogue.phrases import parse_phrases

SCOPE = Scope(
    "security",
    "SEC",
    0.2,
    parse_phrases("""
        repositories | Repositories | dépôts | repositorios | リポジトリ
        CI pipelines | CI-Pipelines | pipelines CI | pipelines de CI | CIパイプライン
        container images | Container-Images | images de conteneur
          | imágenes de contenedor | コンテナイメージ
        infrastructure templates | Infrastruktur-Templates | modèles d'infrastructure
          | plantillas de infraestructura | インフラテンプレート
    """),
)

TEMPLATES = (
    RuleTemplate(
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
    RuleTemplate(
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
    RuleTemplate(
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
)
