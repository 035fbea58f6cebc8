"""auto_promote_rules: decide each rule's maturity change at T, then apply it."""

from orchestrator.graph import Graph, Step
from tasks.maturity import apply_maturity, decide_maturity

GRAPH = Graph(
    "auto_promote_rules",
    steps=[Step("decide", decide_maturity), Step("apply", apply_maturity)],
    edges=[("decide", "apply")],
    schedule="0 4 * * *",
    description=(
        "Promote rules one maturity level on age, evaluations and false-positive "
        "rate; demote to experimental above 10% false positives"
    ),
)
