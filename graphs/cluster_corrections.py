"""cluster_corrections: turn repeated human corrections into proposed rules."""

from orchestrator.graph import Graph, Step
from tasks.flywheel import (
    cluster_corrections,
    draft_proposals,
    embed_corrections,
    fetch_corrections,
    store_proposals,
)

GRAPH = Graph(
    "cluster_corrections",
    steps=[
        Step("fetch", fetch_corrections),
        Step("embed", embed_corrections),
        Step("cluster", cluster_corrections),
        Step("draft", draft_proposals),
        Step("store", store_proposals),
    ],
    edges=[
        ("fetch", "embed"),
        ("embed", "cluster"),
        ("cluster", "draft"),
        ("draft", "store"),
    ],
    schedule="0 5 * * *",
    description=(
        "Cluster the last 14 days of unprocessed corrections and propose a rule "
        "for each cluster of 3 or more with mean confidence above 0.8"
    ),
)
