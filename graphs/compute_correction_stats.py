"""compute_correction_stats: corrections by analysis type and status, hourly."""

from orchestrator.graph import Graph, Step
from tasks.correction_stats import count_corrections

GRAPH = Graph(
    "compute_correction_stats",
    steps=[Step("count", count_corrections)],
    schedule="0 * * * *",
    description="Count the corrections of the hour ending at T by type and status",
)
