"""Norm-amendment propagation along the DERIVES_FROM lineage.

``plan_propagation`` reads the whole lineage from the database, finds every norm
and rule that derives from the amended norm (directly or through other norms and
rules), and expands the run into one ``record_amendment_notice`` step per node,
each after the steps of the nodes it derives from. A node's depth is its shortest
path length from the amended norm.
"""

from __future__ import annotations

import logging
from typing import Any

import networkx as nx
from sqlalchemy import text

from orchestrator.context import StepContext
from orchestrator.graph import Expansion, RetryPolicy, Step, check_acyclic, task
from tasks.alerts import raise_alert

logger = logging.getLogger(__name__)

NOTICE_TASK = "record_amendment_notice"


def notice_key(node_id: str) -> str:
    """The step key of one node's notice step."""
    return f"notice:{node_id}"


async def load_lineage(ctx: StepContext) -> nx.DiGraph:
    """The lineage as a graph whose edges point from parent to child."""
    rows = await ctx.session.execute(
        text("SELECT parent_id, child_id, parent_kind, child_kind FROM lineage")
    )
    lineage = nx.DiGraph()
    for parent, child, parent_kind, child_kind in rows:
        lineage.add_node(parent, kind=parent_kind)
        lineage.add_node(child, kind=child_kind)
        lineage.add_edge(parent, child)

    return lineage


def affected_subgraph(
    lineage: nx.DiGraph, norm_id: str
) -> tuple[nx.DiGraph, dict[str, int]]:
    """The nodes reachable from ``norm_id`` with their depths, cycle-checked.

    Raises:
        GraphCycleError: the reachable lineage has a cycle (named in order).
    """
    if norm_id not in lineage:
        return nx.DiGraph(), {}
    depths = nx.single_source_shortest_path_length(lineage, norm_id)
    sub = lineage.subgraph(depths).copy()
    check_acyclic(sub, f"the lineage below {norm_id}")
    depths.pop(norm_id)

    return sub, depths


@task()
async def plan_propagation(ctx: StepContext) -> Expansion:
    """Plan one notice step per affected norm and rule, in lineage order."""
    norm_id, version = str(ctx.params["norm_id"]), int(ctx.params["version"])
    exists = await ctx.session.scalar(
        text("SELECT 1 FROM norms WHERE id = :id"), {"id": norm_id}
    )
    if exists is None:
        msg = f"norm {norm_id!r} does not exist; import or load it first"
        raise LookupError(msg)
    await ctx.session.execute(
        text("UPDATE norms SET version = greatest(version, :v) WHERE id = :id"),
        {"id": norm_id, "v": version},
    )
    sub, depths = affected_subgraph(await load_lineage(ctx), norm_id)
    policy = RetryPolicy(max_attempts=3)
    steps = [
        Step(
            notice_key(node),
            NOTICE_TASK,
            retry=policy,
            params={
                "node_id": node,
                "node_kind": sub.nodes[node]["kind"],
                "depth": depth,
            },
        )
        for node, depth in sorted(depths.items(), key=lambda item: (item[1], item[0]))
    ]
    edges = [
        (notice_key(parent), notice_key(child))
        for parent, child in sub.edges
        if parent != norm_id
    ]
    kinds = [sub.nodes[n]["kind"] for n in depths]
    output = {
        "norm_id": norm_id,
        "version": version,
        "affected_norms": kinds.count("norm"),
        "affected_rules": kinds.count("rule"),
        "max_depth": max(depths.values(), default=0),
    }
    logger.info(
        "amendment of %s reaches %d nodes",
        norm_id,
        len(depths),
        extra={"event": "propagation.planned"},
    )

    return Expansion(steps=steps, edges=edges, output=output)


@task(NOTICE_TASK)
async def record_amendment_notice(ctx: StepContext) -> dict[str, Any]:
    """Record the notice on one node; for a rule, request its review and alert."""
    node_id, kind = str(ctx.params["node_id"]), str(ctx.params["node_kind"])
    norm_id, version = str(ctx.params["norm_id"]), int(ctx.params["version"])
    depth = int(ctx.params["depth"])
    result = await ctx.session.execute(
        text(
            """
            INSERT INTO amendment_notices (node_id, norm_id, version, node_kind, depth,
                                           status, logical_time, run_id)
            VALUES (:node, :norm, :version, :kind, :depth, 'needs_review', :t, :run)
            ON CONFLICT DO NOTHING
            """
        ),
        {
            "node": node_id,
            "norm": norm_id,
            "version": version,
            "kind": kind,
            "depth": depth,
            "t": ctx.logical_time,
            "run": str(ctx.run_id),
        },
    )
    created = bool(result.rowcount)  # type: ignore[attr-defined]
    if kind == "rule" and created:
        await ctx.session.execute(
            text("UPDATE rules SET review_requested_at = :t WHERE id = :id"),
            {"t": ctx.logical_time, "id": node_id},
        )
        await raise_alert(
            ctx.session,
            kind="norm_amended",
            severity="warning",
            rule_id=node_id,
            seen_at=ctx.logical_time,
            details={
                "norm_id": norm_id,
                "version": version,
                "depth": depth,
                "summary": str(ctx.params.get("summary", "")),
            },
        )

    return {"node_id": node_id, "kind": kind, "depth": depth, "created": created}


@task()
async def summarize_propagation(ctx: StepContext) -> dict[str, Any]:
    """Count the notices this amendment left."""
    rows = await ctx.session.execute(
        text(
            "SELECT node_kind, count(*) FROM amendment_notices"
            " WHERE norm_id = :norm AND version = :v GROUP BY node_kind"
        ),
        {"norm": ctx.params["norm_id"], "v": int(ctx.params["version"])},
    )
    counts = {kind: int(n) for kind, n in rows}

    return {"notices": counts, "plan": ctx.inputs.get("plan")}
