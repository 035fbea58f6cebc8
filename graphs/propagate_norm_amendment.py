"""propagate_norm_amendment: plan the affected lineage, then one step per node."""

from orchestrator.graph import Graph, Step
from tasks.propagation import plan_propagation, summarize_propagation

GRAPH = Graph(
    "propagate_norm_amendment",
    steps=[Step("plan", plan_propagation), Step("summarize", summarize_propagation)],
    edges=[("plan", "summarize")],
    params_schema={"norm_id": None, "version": None, "summary": ""},
    max_active_runs=10,
    description="Notify every norm and rule derived from an amended norm",
)
