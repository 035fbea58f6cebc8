"""policy_review_cycle: alert on rules due for review, then post critical alerts."""

from orchestrator.graph import Graph, Step
from tasks.notify import notify_critical_alerts
from tasks.reviews import check_reviews

GRAPH = Graph(
    "policy_review_cycle",
    steps=[Step("check", check_reviews), Step("notify", notify_critical_alerts)],
    edges=[("check", "notify")],
    schedule="0 6 * * *",
    description=(
        "Alert on rules due for review (30 and 60 days overdue escalate) and post "
        "new critical alerts to ALERT_WEBHOOK_URL"
    ),
)
