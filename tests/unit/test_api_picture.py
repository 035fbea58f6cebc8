"""The run picture's layout and documents, and the pagination cursors."""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime
from xml.etree import ElementTree

import pytest

from api.fields import bounded_time, json_params
from api.pagination import CursorError, decode_cursor, encode_cursor, page_of
from api.picture import (
    MAX_PER_COLUMN,
    MEASURE_SCRIPT,
    NODE_H,
    NODE_W,
    PAGE_CSP,
    STATE_COLOURS,
    layout,
    render_page,
    render_svg,
)

SVG = "{http://www.w3.org/2000/svg}"


def _run(steps: list[tuple[str, str]], status: str = "failed") -> dict[str, object]:
    return {
        "id": "8f3c0000-0000-4000-8000-000000000001",
        "graph": "demo",
        "status": status,
        "trigger": "api",
        "actor": "ann",
        "logical_time": "2026-12-01T05:00:00+00:00",
        "trace_id": None,
        "steps": [
            {"key": k, "status": s, "attempts": 1, "duration_s": 0.5, "error": None}
            for k, s in steps
        ],
    }


def test_layout_places_steps_in_layers_by_depth() -> None:
    """A step sits one layer right of its deepest predecessor."""
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("a", "d")]
    placed = layout(["a", "b", "c", "d"], edges)

    assert {k: b.layer for k, b in placed.boxes.items()} == {
        "a": 0,
        "b": 1,
        "d": 1,
        "c": 2,
    }
    assert placed.boxes["a"].x < placed.boxes["b"].x < placed.boxes["c"].x
    assert placed.boxes["b"].x == placed.boxes["d"].x


def test_layout_wraps_a_wide_layer_into_columns() -> None:
    """An expansion of 600 steps wraps into columns instead of one endless strip,
    no two boxes overlap, and the whole run still renders."""
    keys = ["plan", *[f"notice:R{i}" for i in range(600)], "summarize"]
    edges = [("plan", k) for k in keys[1:-1]] + [(k, "summarize") for k in keys[1:-1]]
    placed = layout(keys, edges)
    svg = ElementTree.fromstring(
        render_svg(_run([(k, "succeeded") for k in keys]), edges)
    )

    corners = {(b.x, b.y) for b in placed.boxes.values()}
    assert len(corners) == len(keys)
    assert placed.height <= 2 * 16 + MAX_PER_COLUMN * (NODE_H + 12)
    assert placed.width >= 15 * NODE_W
    assert all(
        b.x + NODE_W <= placed.width and b.y + NODE_H <= placed.height
        for b in placed.boxes.values()
    )
    assert len(svg.findall(f".//{SVG}g[@class='step']")) == len(keys)
    assert len(svg.findall(f".//{SVG}path[@marker-end]")) == len(edges)


def test_render_svg_colours_each_state_and_escapes_keys() -> None:
    """Every step is a rect filled with its state's colour; keys are escaped."""
    states = list(STATE_COLOURS)
    steps = [(f"<step {i}>&", s) for i, s in enumerate(states)]
    edges = [(steps[i][0], steps[i + 1][0]) for i in range(len(steps) - 1)]
    root = ElementTree.fromstring(render_svg(_run(steps), edges))

    groups = root.findall(f".//{SVG}g[@class='step']")
    fills = {g.get("data-status"): g.find(f"{SVG}rect").get("fill") for g in groups}  # type: ignore[union-attr]
    assert fills == {state: colours[0] for state, colours in STATE_COLOURS.items()}
    assert {g.get("data-key") for g in groups} == {k for k, _ in steps}
    assert len(root.findall(f".//{SVG}path[@marker-end]")) == len(edges)


def test_render_page_is_self_contained() -> None:
    """The page refers to no other host, carries a legend and the failed steps,
    and its policy allows exactly its own inline script."""
    page = render_page(_run([("a", "succeeded"), ("b", "failed")]), [("a", "b")])

    urls = re.findall(r"(?:src|href)=\"([^\"]*)\"", page)
    assert all(u.startswith(("/api/v1/", "data:", "url(#")) for u in urls), urls
    assert re.findall(r"https?://", page) == ["http://"]  # the SVG namespace only
    assert "http://www.w3.org/2000/svg" in page
    assert "upstream failed" in page
    assert "Failed steps" in page
    digest = base64.b64encode(hashlib.sha256(MEASURE_SCRIPT.encode()).digest())
    assert f"'sha256-{digest.decode()}'" in PAGE_CSP
    assert f"<script>{MEASURE_SCRIPT}</script>" in page
    assert 'http-equiv="refresh"' not in page


def test_render_page_refreshes_while_in_progress() -> None:
    """A run in progress gets a page that reloads itself."""
    page = render_page(_run([("a", "running")], status="running"), [])

    assert '<meta http-equiv="refresh" content="5">' in page


def test_cursor_round_trip_and_refusals() -> None:
    """A cursor gives back its key; another listing's, a damaged or a garbage
    cursor is refused."""
    cursor = encode_cursor("runs", ["2026-12-01T00:00:00+00:00", "abc"])

    assert decode_cursor("runs", cursor, (str, str)) == [
        "2026-12-01T00:00:00+00:00",
        "abc",
    ]
    for listing, raw, types in (
        ("alerts", cursor, (str, str)),
        ("runs", cursor, (str,)),
        ("runs", cursor, (int, str)),
        ("runs", "%%%", (str,)),
        ("runs", "bm9wZQ", (str,)),
        ("runs", encode_cursor("runs", [True]), (int,)),
    ):
        with pytest.raises(CursorError):
            decode_cursor(listing, raw, types)


def test_page_of_hands_out_a_cursor_only_when_more_rows_exist() -> None:
    """Fetching limit + 1 rows tells whether a next page exists."""
    items, cursor = page_of(
        "alerts", [{"id": 3}, {"id": 2}, {"id": 1}], 2, lambda r: [r["id"]]
    )
    last, none = page_of("alerts", [{"id": 1}], 2, lambda r: [r["id"]])

    assert items == [{"id": 3}, {"id": 2}]
    assert cursor is not None
    assert decode_cursor("alerts", cursor, (int,)) == [2]
    assert (last, none) == ([{"id": 1}], None)


def test_fields_refuse_values_the_database_cannot_hold() -> None:
    """Instants outside 1970 to 2999 and non-finite or NUL parameters are refused."""
    assert bounded_time(datetime(2026, 1, 1, tzinfo=UTC)).tzinfo == UTC
    for bad in (datetime(1969, 12, 31, tzinfo=UTC), datetime(3000, 1, 1, tzinfo=UTC)):
        with pytest.raises(ValueError, match="out of range"):
            bounded_time(bad)
    for params in ({"x": float("inf")}, {"x": ["a\x00"]}, {"\x00": 1}):
        with pytest.raises(ValueError, match=r"NaN|NUL"):
            json_params(params)
