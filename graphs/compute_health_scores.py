"""compute_health_scores: score every active rule, then raise or resolve alerts."""

from datetime import timedelta

from orchestrator.graph import Graph, Step
from tasks.health import alert_on_health, score_rules

GRAPH = Graph(
    "compute_health_scores",
    steps=[
        Step("score", score_rules, timeout=timedelta(minutes=15)),
        Step("alert", alert_on_health),
    ],
    edges=[("score", "alert")],
    schedule="0 2 * * *",
    description=(
        "Score each active rule on six health dimensions; alert when unhealthy, "
        "dormant or losing effectiveness"
    ),
)
