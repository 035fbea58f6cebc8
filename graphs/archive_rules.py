"""archive_rules: archive long-deprecated rules, purge evaluations past retention."""

from orchestrator.graph import Graph, Step
from tasks.retention import (
    DEFAULT_RETENTION_DAYS,
    archive_deprecated_rules,
    purge_evaluations,
)

GRAPH = Graph(
    "archive_rules",
    steps=[
        Step("archive", archive_deprecated_rules),
        Step("purge", purge_evaluations),
    ],
    params_schema={"retention_days": DEFAULT_RETENTION_DAYS},
    future_logical_time=False,
    description=(
        "Archive rules deprecated 90 days or more; delete evaluations older than "
        "the retention period; rules under legal hold keep everything"
    ),
)
