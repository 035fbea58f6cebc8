"""Measured figures and the table they are printed in.

A :class:`Figure` is one named quantity measured one or more times (its runs).
The table shows, for each, the median, the range and the number of runs; a
figure with no values shows its note instead (a benchmark that failed or could
not run says why there).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass
class Figure:
    """One quantity, measured ``len(values)`` times.

    Attributes:
        section: the benchmark it belongs to (a heading in the table).
        name: what was measured, with its unit.
        values: one value per run (or per sample, where the note says so).
        note: shown beside the figure; for a figure with no values, instead of it.
        failed: the benchmark behind it failed (the note says how).
    """

    section: str
    name: str
    values: list[float] = field(default_factory=list)
    note: str = ""
    failed: bool = False

    @property
    def measured(self) -> bool:
        return bool(self.values)


def median(values: Sequence[float]) -> float:
    """The median of ``values`` (which must not be empty)."""
    return float(statistics.median(values))


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0-100) by the nearest-rank method."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))

    return float(ordered[rank - 1])


def ratios(numerators: Sequence[float], denominators: Sequence[float]) -> list[float]:
    """Pairwise ratios of two series measured in the same runs."""
    return [n / d for n, d in zip(numerators, denominators, strict=False) if d]


def format_value(value: float) -> str:
    """A value with as many digits as its size deserves."""
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 0.9995:
        return f"{value:.2f}"
    if magnitude == 0:
        return "0"

    return f"{value:.3g}"


HEADER = ("figure", "median", "min\N{EN DASH}max", "runs")


def _cells(figure: Figure) -> tuple[str, str, str, str]:
    if not figure.measured:
        return (f"{figure.name}: {figure.note or 'not measured'}", "-", "", "")
    name = f"{figure.name} ({figure.note})" if figure.note else figure.name
    low, high = min(figure.values), max(figure.values)
    spread = format_value(low)
    if low != high:
        spread += f"\N{EN DASH}{format_value(high)}"

    return (name, format_value(median(figure.values)), spread, str(len(figure.values)))


def _sections(figures: Sequence[Figure]) -> list[tuple[str, list[Figure]]]:
    grouped: dict[str, list[Figure]] = {}
    for figure in figures:
        grouped.setdefault(figure.section, []).append(figure)

    return list(grouped.items())


def text_table(figures: Sequence[Figure]) -> str:
    """The figures as a plain-text table, one block per section."""
    rows = [_cells(f) for f in figures]
    widths = [max(len(r[i]) for r in [HEADER, *rows]) for i in range(4)]

    def line(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True)]
        return "  ".join([first, *rest]).rstrip()

    out = [line(HEADER), "  ".join("-" * w for w in widths)]
    for section, members in _sections(figures):
        out.append(f"[{section}]")
        out += [line(_cells(f)) for f in members]

    return "\n".join(out) + "\n"


def markdown_table(figures: Sequence[Figure]) -> str:
    """The figures as one Markdown table, each section in a bold row."""
    out = [
        "| " + " | ".join(HEADER) + " |",
        "|---|---:|---:|---:|",
    ]
    for section, members in _sections(figures):
        out.append(f"| **{section}** | | | |")
        for figure in members:
            cells = [c.replace("|", "\\|") for c in _cells(figure)]
            out.append("| " + " | ".join(cells) + " |")

    return "\n".join(out) + "\n"
