"""send_weekly_digest: five sections in parallel, stored, then delivered once."""

from orchestrator.graph import Graph, Step
from tasks.digest import (
    SECTIONS,
    deliver_digest,
    digest_declining,
    digest_effective,
    digest_pending,
    digest_trend,
    digest_violations,
    store_digest,
)

SECTION_TASKS = {
    "trend": digest_trend,
    "violations": digest_violations,
    "effective": digest_effective,
    "declining": digest_declining,
    "pending": digest_pending,
}

GRAPH = Graph(
    "send_weekly_digest",
    steps=[
        *(Step(key, SECTION_TASKS[key]) for key in SECTIONS),
        Step("store", store_digest),
        Step("deliver", deliver_digest),
    ],
    edges=[*((key, "store") for key in SECTIONS), ("store", "deliver")],
    schedule="0 9 * * 1",
    description=(
        "Sum up the week: compliance trend, top violations, most effective and "
        "declining rules, pending actions; post it to DIGEST_WEBHOOK_URL"
    ),
)
