"""The funnel as an SVG drawn on the server: no charting script, nothing fetched elsewhere.

One bar per step, as wide as its share of the first step's visitors, with the
count written beside it; the bar's title says how many left at that step. The
figures are also in a table beside the chart, which is what a screen reader
reads (the SVG is marked as an image with a one-line summary).
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

WIDTH = 640
BAR = 28
GAP = 10
LABEL = 220


def funnel_svg(report: Any) -> Markup:
    """``report``: klcheckout's funnel report (steps with name, visitors and left)."""
    steps = list(report.steps)
    top = max([row.visitors for row in steps] + [1])
    height = len(steps) * (BAR + GAP) + GAP
    room = WIDTH - LABEL - 70
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" '
        f'aria-label="{escape(_summary(report))}">'
    ]
    for index, row in enumerate(steps):
        y = GAP + index * (BAR + GAP)
        width = max(2, round(room * row.visitors / top)) if row.visitors else 0
        parts.append(
            f"<g><title>{escape(row.name)}: {row.visitors} visitors, {row.left} left here</title>"
            f'<text x="{LABEL - 8}" y="{y + BAR * 0.68:.0f}" text-anchor="end" '
            f'font-size="14" fill="#1b1f24">{escape(_short(row.name))}</text>'
            f'<rect x="{LABEL}" y="{y}" width="{width}" height="{BAR}" rx="4" fill="#0b57d0"/>'
            f'<text x="{LABEL + width + 6}" y="{y + BAR * 0.68:.0f}" font-size="14" '
            f'fill="#1b1f24">{row.visitors}</text></g>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _summary(report: Any) -> str:
    steps = list(report.steps)
    if not steps:
        return "No steps"
    return (
        f"Funnel: {steps[0].visitors} visitors at {steps[0].name}, "
        f"{steps[-1].visitors} at {steps[-1].name}"
    )


def _short(name: str, most: int = 28) -> str:
    return name if len(name) <= most else name[: most - 1] + "…"
