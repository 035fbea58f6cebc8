"""Every job as a graph of tasks; one short module per graph."""

from __future__ import annotations

import importlib

from orchestrator.graph import Graph

GRAPH_MODULES = (
    "graphs.cluster_corrections",
    "graphs.propagate_norm_amendment",
    "graphs.compute_health_scores",
    "graphs.generate_recommendations",
    "graphs.auto_promote_rules",
    "graphs.policy_review_cycle",
    "graphs.compute_correction_stats",
    "graphs.send_weekly_digest",
    "graphs.prune_run_history",
    "graphs.archive_rules",
    "graphs.verify_translation_drift",
    "graphs.detect_verdict_drift",
    "graphs.validate_polyglot_equivalence",
    "graphs.validate_polyglot_code",
    "graphs.scan_conflicts",
    "graphs.monitor_verdict_distribution",
)


def all_graphs() -> dict[str, Graph]:
    """Every graph of this deployment, by name."""
    graphs: dict[str, Graph] = {}
    for module_name in GRAPH_MODULES:
        graph = importlib.import_module(module_name).GRAPH
        graphs[graph.name] = graph
    return graphs
