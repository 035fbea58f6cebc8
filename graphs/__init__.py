"""Every job as a graph of tasks; one short module per graph."""

from __future__ import annotations

import importlib

from orchestrator.graph import Graph

GRAPH_MODULES = (
    "graphs.cluster_corrections",
    "graphs.propagate_norm_amendment",
)


def all_graphs() -> dict[str, Graph]:
    """Every graph of this deployment, by name."""
    graphs: dict[str, Graph] = {}
    for module_name in GRAPH_MODULES:
        graph = importlib.import_module(module_name).GRAPH
        graphs[graph.name] = graph
    return graphs
