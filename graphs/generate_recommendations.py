"""generate_recommendations: recommend changes from each rule's usage, then alert."""

from orchestrator.graph import Graph, Step
from tasks.recommendations import alert_high_deny_rate, recommend

GRAPH = Graph(
    "generate_recommendations",
    steps=[Step("recommend", recommend), Step("alert", alert_high_deny_rate)],
    edges=[("recommend", "alert")],
    schedule="0 3 * * *",
    description=(
        "Recommend changes from the last 30 days of usage: high deny rate, high "
        "false-positive rate, never fires, stale translations"
    ),
)
