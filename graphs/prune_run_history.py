"""prune_run_history: delete finished runs older than RUN_HISTORY_DAYS."""

from orchestrator.graph import Graph, Step
from tasks.retention import prune_runs

GRAPH = Graph(
    "prune_run_history",
    steps=[Step("prune", prune_runs)],
    schedule="0 1 * * *",
    future_logical_time=False,
    description="Delete finished runs older than RUN_HISTORY_DAYS with their steps",
)
