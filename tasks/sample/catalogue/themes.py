"""What human corrections say: recurring themes, and one-off noise around them."""

from dataclasses import dataclass


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

NOISE_SUBJECTS = (
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
NOISE_PROBLEMS = (
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
NOISE_CONTEXTS = (
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
NOISE_COUNT = 280
ANALYSIS_TYPES = ("false_positive_review", "false_negative_review", "policy_gap")
