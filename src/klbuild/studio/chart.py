"""The funnel as an SVG drawn on the server: no charting script, nothing fetched elsewhere.

One row per step: its name, a bar as long as its share of the first step's
visitors over a grey track, and the count with that share. A row's title says
how many left at that step. The figures are also in the table below the charts,
which is what a screen reader reads: the SVG is one image with a one-line summary.
"""

from __future__ import annotations

from typing import Any

from markupsafe import Markup, escape

WIDTH = 420
ROW = 34
BAR = 14
LABEL_HEIGHT = 16
NUMBERS = 92


def funnel_svg(report: Any) -> Markup:
    """``report``: klcheckout's ``Funnel`` (steps with name, visitors and left)."""
    steps = list(report.steps)
    first = steps[0].visitors if steps else 0
    top = max([row.visitors for row in steps] + [1])
    track = WIDTH - NUMBERS
    height = len(steps) * ROW + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" aria-label="{escape(_summary(report))}">'
    ]
    for index, row in enumerate(steps):
        y = index * ROW
        length = round(track * row.visitors / top) if row.visitors else 0
        share = f" · {round(100 * row.visitors / first)} %" if first else ""
        parts.append(
            f"<g><title>{escape(row.name)}: {row.visitors} visitors, "
            f"{row.left} left here</title>"
            f'<text x="0" y="{y + 12}" font-size="13" fill="#1b1f24">{escape(row.name)}</text>'
            f'<rect x="0" y="{y + LABEL_HEIGHT}" width="{track}" height="{BAR}" rx="3" '
            'fill="#e6eaef"/>'
            f'<rect x="0" y="{y + LABEL_HEIGHT}" width="{length}" height="{BAR}" rx="3" '
            'fill="#0b57d0"/>'
            f'<text x="{track + 8}" y="{y + LABEL_HEIGHT + 12}" font-size="13" '
            f'fill="#1b1f24">{row.visitors}{share}</text></g>'
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
