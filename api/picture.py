"""A run's graph as a picture: an SVG drawn here, and an HTML page around it.

Steps are laid out left to right in layers by topological depth (a step's layer
is one more than its deepest predecessor's), each coloured by its state. Within
a layer steps are ordered by the mean position of their predecessors, which
keeps most edges short; a layer of more than :data:`MAX_PER_COLUMN` steps (an
expanded run) wraps into several columns, so a run of hundreds of steps stays a
picture to scroll rather than a strip miles long.

Nothing in either document refers to another host: no fonts, scripts or styles
are fetched, so a browser shows it without any network. The HTML page carries a
Content-Security-Policy that forbids every fetch and allows only its own inline
script, which records each step's box as laid out (``data-box``: left, top,
width and height in CSS pixels from the page's origin) so tools can find a step
on a screenshot.
"""

from __future__ import annotations

import base64
import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

import networkx as nx

# state: (fill, text colour, legend label)
STATE_COLOURS: dict[str, tuple[str, str, str]] = {
    "succeeded": ("#2e7d32", "#ffffff", "succeeded"),
    "failed": ("#d50000", "#ffffff", "failed"),
    "running": ("#fdd835", "#000000", "running"),
    "queued": ("#00bcd4", "#000000", "queued"),
    "pending": ("#9e9e9e", "#000000", "pending"),
    "upstream_failed": ("#bf360c", "#ffffff", "upstream failed"),
    "cancelled": ("#c000c0", "#ffffff", "cancelled"),
}
UNKNOWN_STATE = ("#607d8b", "#ffffff", "unknown")

NODE_W, NODE_H = 200, 44
LAYER_GAP, COLUMN_GAP, ROW_GAP = 72, 20, 12
MARGIN = 16
LEGEND_H = 64
MAX_PER_COLUMN = 40
LABEL_CHARS = 26
TERMINAL = frozenset({"succeeded", "failed", "cancelled"})

MEASURE_SCRIPT = (
    'for(const g of document.querySelectorAll("svg g.step")){'
    'const r=g.querySelector("rect").getBoundingClientRect();'
    'g.setAttribute("data-box",[r.left+scrollX,r.top+scrollY,r.width,r.height]'
    '.map(Math.round).join(" "))}'
)
_SCRIPT_HASH = base64.b64encode(hashlib.sha256(MEASURE_SCRIPT.encode()).digest())
PAGE_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
    f"script-src 'sha256-{_SCRIPT_HASH.decode()}'; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)
SVG_CSP = "default-src 'none'; style-src 'unsafe-inline'"


@dataclass(frozen=True)
class Box:
    """Where one step is drawn."""

    key: str
    x: int
    y: int
    layer: int


@dataclass(frozen=True)
class Layout:
    boxes: dict[str, Box]
    width: int
    height: int


def _layers(keys: Sequence[str], edges: Sequence[tuple[str, str]]) -> list[list[str]]:
    dag = nx.DiGraph()
    dag.add_nodes_from(keys)
    dag.add_edges_from(edges)
    layers: list[list[str]] = []
    position: dict[str, float] = {}
    for generation in nx.topological_generations(dag):
        layer = sorted(generation, key=lambda k: _barycentre(dag, position, k))
        position.update((key, float(i)) for i, key in enumerate(layer))
        layers.append(layer)
    return layers


def _barycentre(
    dag: nx.DiGraph, position: Mapping[str, float], key: str
) -> tuple[float, str]:
    """The mean row of a step's predecessors (then its key, for a stable order)."""
    rows = [position[p] for p in dag.predecessors(key)]
    return (sum(rows) / len(rows) if rows else 0.0, key)


def layout(
    keys: Sequence[str], edges: Sequence[tuple[str, str]], *, top: int = 0
) -> Layout:
    """Place each step: layers left to right, wrapped into columns of 40."""
    boxes: dict[str, Box] = {}
    x = MARGIN
    tallest = 0
    for depth, layer in enumerate(_layers(keys, edges)):
        columns = max(1, math.ceil(len(layer) / MAX_PER_COLUMN))
        rows = math.ceil(len(layer) / columns)
        for index, key in enumerate(layer):
            column, row = divmod(index, rows)
            boxes[key] = Box(
                key,
                x + column * (NODE_W + COLUMN_GAP),
                top + MARGIN + row * (NODE_H + ROW_GAP),
                depth,
            )
        tallest = max(tallest, rows)
        x += columns * (NODE_W + COLUMN_GAP) - COLUMN_GAP + LAYER_GAP
    width = max(x - LAYER_GAP + MARGIN, 2 * MARGIN + NODE_W)
    height = top + 2 * MARGIN + max(tallest, 1) * (NODE_H + ROW_GAP) - ROW_GAP

    return Layout(boxes, width, height)


def _label(key: str) -> str:
    return key if len(key) <= LABEL_CHARS else key[: LABEL_CHARS - 1] + "…"


def _status_line(step: Mapping[str, Any]) -> str:
    parts = [str(step["status"]).replace("_", " ")]
    attempts = int(step.get("attempts") or 0)
    if attempts:
        parts.append(f"{attempts} attempt{'s' if attempts != 1 else ''}")
    if step.get("duration_s") is not None:
        parts.append(f"{float(step['duration_s']):.2f}s")
    return " · ".join(parts)


def _node(step: Mapping[str, Any], box: Box) -> str:
    status = str(step["status"])
    fill, ink, _ = STATE_COLOURS.get(status, UNKNOWN_STATE)
    tooltip = f"{step['key']}\n{_status_line(step)}"
    if step.get("error"):
        tooltip += f"\n{step['error']}"
    return (
        f'<g class="step" data-key="{escape(str(step["key"]))}" '
        f'data-status="{escape(status)}">'
        f"<title>{escape(tooltip)}</title>"
        f'<rect x="{box.x}" y="{box.y}" width="{NODE_W}" height="{NODE_H}" '
        f'rx="6" fill="{fill}"/>'
        f'<text x="{box.x + 10}" y="{box.y + 18}" fill="{ink}" '
        f'font-size="13">{escape(_label(str(step["key"])))}</text>'
        f'<text x="{box.x + 10}" y="{box.y + 35}" fill="{ink}" '
        f'font-size="11">{escape(_status_line(step))}</text></g>'
    )


def _edge(up: Box, down: Box) -> str:
    x1, y1 = up.x + NODE_W, up.y + NODE_H // 2
    x2, y2 = down.x - 3, down.y + NODE_H // 2
    bend = max(24, (x2 - x1) // 2)
    return (
        f'<path d="M{x1} {y1} C{x1 + bend} {y1} {x2 - bend} {y2} {x2} {y2}" '
        'marker-end="url(#arrow)"/>'
    )


def _legend(y: int) -> str:
    items = []
    x = MARGIN
    for fill, _, label in STATE_COLOURS.values():
        items.append(
            f'<rect x="{x}" y="{y}" width="14" height="14" rx="3" fill="{fill}"/>'
            f'<text x="{x + 20}" y="{y + 12}" font-size="12">{escape(label)}</text>'
        )
        x += 30 + 7 * len(label)
    return "".join(items)


def render_svg(
    run: Mapping[str, Any], edges: Sequence[tuple[str, str]], *, legend: bool = True
) -> str:
    """The run's steps and edges as one standalone SVG document."""
    steps = list(run["steps"])
    top = LEGEND_H if legend else 0
    placed = layout([s["key"] for s in steps], edges, top=top)
    head = ""
    if legend:
        title = f"{run['graph']} · run {run['id']} · {run['status']}"
        head = (
            f'<text x="{MARGIN}" y="24" font-size="15" font-weight="bold">'
            f"{escape(title)}</text>{_legend(36)}"
        )
    lines = [
        _edge(placed.boxes[u], placed.boxes[d])
        for u, d in edges
        if u in placed.boxes and d in placed.boxes
    ]
    nodes = [_node(s, placed.boxes[s["key"]]) for s in steps]
    width = max(placed.width, 760 if legend else 0)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" '
        f'height="{placed.height}" viewBox="0 0 {width} {placed.height}" '
        f'role="img" aria-label="{escape(str(run["graph"]))} run {run["id"]}" '
        'font-family="system-ui, sans-serif">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0 0 L10 5 L0 10 z" fill="#78909c"/></marker></defs>'
        f'<rect width="{width}" height="{placed.height}" fill="#ffffff"/>{head}'
        f'<g class="edges" fill="none" stroke="#78909c" stroke-width="1.5">'
        f'{"".join(lines)}</g><g class="steps">{"".join(nodes)}</g></svg>'
    )


_STYLE = """
body{margin:0;font:14px system-ui,sans-serif;color:#212121;background:#fafafa}
header{padding:12px 16px;background:#fff;border-bottom:1px solid #ddd}
h1{font-size:18px;margin:0 0 6px}
.meta span{margin-right:14px}
ul.legend{list-style:none;margin:8px 0 0;padding:0;display:flex;flex-wrap:wrap}
ul.legend li{margin-right:14px;display:flex;align-items:center}
ul.legend i{display:inline-block;width:14px;height:14px;border-radius:3px;margin-right:6px}
.picture{overflow:auto;background:#fff}
.picture svg{display:block}
table{border-collapse:collapse;margin:12px 16px}
caption{text-align:left;font-weight:bold;padding:4px 0}
td,th{border:1px solid #ddd;padding:4px 8px;text-align:left;vertical-align:top}
"""


def _problems(steps: Sequence[Mapping[str, Any]]) -> str:
    failed = [s for s in steps if s["status"] == "failed"]
    if not failed:
        return ""
    rows = "".join(
        f"<tr><td>{escape(str(s['key']))}</td><td>{int(s.get('attempts') or 0)}"
        f"</td><td>{escape(str(s.get('error') or ''))}</td></tr>"
        for s in failed
    )
    return (
        "<table><caption>Failed steps</caption><tr><th>step</th><th>attempts</th>"
        f"<th>last error</th></tr>{rows}</table>"
    )


def render_page(run: Mapping[str, Any], edges: Sequence[tuple[str, str]]) -> str:
    """An HTML page with the picture, a legend and the failed steps' errors."""
    run_id = escape(str(run["id"]))
    legend = "".join(
        f'<li><i style="background:{fill}"></i>{escape(label)}</li>'
        for fill, _, label in STATE_COLOURS.values()
    )
    refresh = (
        "" if run["status"] in TERMINAL else '<meta http-equiv="refresh" content="5">'
    )
    meta = " ".join(
        f"<span>{escape(name)}: <b>{escape(str(run.get(field) or '-'))}</b></span>"
        for name, field in (
            ("status", "status"),
            ("trigger", "trigger"),
            ("actor", "actor"),
            ("logical time", "logical_time"),
            ("trace", "trace_id"),
        )
    )
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(str(run['graph']))} · run {run_id}</title>{refresh}"
        '<link rel="icon" href="data:,">'
        f"<style>{_STYLE}</style></head><body>"
        f"<header><h1>{escape(str(run['graph']))} · run {run_id}</h1>"
        f'<div class="meta">{meta} <a href="/api/v1/runs/{run_id}">JSON</a> '
        f'<a href="/api/v1/runs/{run_id}/graph.svg">SVG</a></div>'
        f'<ul class="legend">{legend}</ul></header>'
        f'<div class="picture">{render_svg(run, edges, legend=False)}</div>'
        f"{_problems(run['steps'])}<script>{MEASURE_SCRIPT}</script></body></html>"
    )
