"""monitor_verdict_distribution: deny shares that moved against their baseline."""

from orchestrator.graph import Graph, Step
from tasks.verdict_distribution import compare_verdict_shares

GRAPH = Graph(
    "monitor_verdict_distribution",
    steps=[Step("compare", compare_verdict_shares)],
    description=(
        "Raise verdict_shift when the 7-day deny share moved by 0.2 or more from "
        "that of the 30 days before"
    ),
)
