"""scan_conflicts: rules of one scope with opposite effects that overlap."""

from orchestrator.graph import Graph, Step
from tasks.conflicts import scan_conflicts

GRAPH = Graph(
    "scan_conflicts",
    steps=[Step("scan", scan_conflicts)],
    description=(
        "Raise rule_conflict for deny/allow pairs of one scope with the same pattern "
        "or texts of token Jaccard 0.6 or more"
    ),
)
