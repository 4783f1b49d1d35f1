"""A log-log plot of time against size, as a plain SVG file (no plotting library needed).

``write_svg(path, panels)`` draws one panel per series group side by side: each panel has
its own x unit (files, MB) and lines for each tool (agentos, git apply, GNU patch), with
decade grid lines on both axes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

WIDTH, HEIGHT = 420, 320
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 62, 16, 34, 48
COLOURS = {"agentos": "#d62728", "git apply": "#1f77b4", "GNU patch": "#2ca02c"}
FALLBACK_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass
class Panel:
    """One panel: a title, the x axis' unit, and for each tool its (size, seconds) points."""

    title: str
    unit: str
    lines: dict[str, list[tuple[float, float]]] = field(default_factory=dict)

    def add(self, tool: str, size: float, seconds: float) -> None:
        self.lines.setdefault(tool, []).append((size, seconds))


def _decades(low: float, high: float) -> tuple[int, int]:
    return math.floor(math.log10(low)), math.ceil(math.log10(high))


def _label(value: float) -> str:
    if value >= 1:
        return f"{value:,.0f}"
    return f"{value:g}"


def _panel(panel: Panel, left: float) -> list[str]:
    points = [p for line in panel.lines.values() for p in line]
    x0, x1 = _decades(min(p[0] for p in points), max(p[0] for p in points))
    y0, y1 = _decades(min(p[1] for p in points), max(p[1] for p in points))
    x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
    inner_w = WIDTH - MARGIN_LEFT - MARGIN_RIGHT
    inner_h = HEIGHT - MARGIN_TOP - MARGIN_BOTTOM

    def sx(value: float) -> float:
        return left + MARGIN_LEFT + (math.log10(value) - x0) / (x1 - x0) * inner_w

    def sy(value: float) -> float:
        return MARGIN_TOP + (y1 - math.log10(value)) / (y1 - y0) * inner_h

    out = [
        f'<text x="{left + WIDTH / 2:.0f}" y="20" text-anchor="middle" '
        f'font-weight="bold">{panel.title}</text>'
    ]
    for exp in range(x0, x1 + 1):
        x = sx(10.0**exp)
        out.append(
            f'<line x1="{x:.1f}" y1="{MARGIN_TOP}" x2="{x:.1f}" y2="{HEIGHT - MARGIN_BOTTOM}" '
            'stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{x:.1f}" y="{HEIGHT - MARGIN_BOTTOM + 16}" text-anchor="middle">'
            f"{_label(10.0**exp)}</text>"
        )
    for exp in range(y0, y1 + 1):
        y = sy(10.0**exp)
        out.append(
            f'<line x1="{left + MARGIN_LEFT}" y1="{y:.1f}" x2="{left + WIDTH - MARGIN_RIGHT}" '
            f'y2="{y:.1f}" stroke="#ddd"/>'
        )
        out.append(
            f'<text x="{left + MARGIN_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{_label(10.0**exp)} s</text>"
        )
    out.append(
        f'<text x="{left + WIDTH / 2:.0f}" y="{HEIGHT - 10}" text-anchor="middle">'
        f"{panel.unit} (log)</text>"
    )
    for index, (tool, line) in enumerate(panel.lines.items()):
        colour = COLOURS.get(tool, FALLBACK_COLOURS[index % len(FALLBACK_COLOURS)])
        ordered = sorted(line)
        path = " ".join(f"{sx(size):.1f},{sy(seconds):.1f}" for size, seconds in ordered)
        out.append(f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>')
        out.extend(
            f'<circle cx="{sx(size):.1f}" cy="{sy(seconds):.1f}" r="3" fill="{colour}"/>'
            for size, seconds in ordered
        )
        legend_y = MARGIN_TOP + 14 + 16 * index
        out.append(
            f'<rect x="{left + MARGIN_LEFT + 8}" y="{legend_y - 9}" width="12" height="3" '
            f'fill="{colour}"/><text x="{left + MARGIN_LEFT + 24}" y="{legend_y}">{tool}</text>'
        )
    return out


def write_svg(path: Path, panels: list[Panel]) -> None:
    """Draw ``panels`` (those with points) side by side into ``path``."""
    drawn = [p for p in panels if any(p.lines.values())]
    if not drawn:
        return
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH * len(drawn)}" '
        f'height="{HEIGHT}" font-family="sans-serif" font-size="11">',
        f'<rect width="{WIDTH * len(drawn)}" height="{HEIGHT}" fill="white"/>',
    ]
    for index, panel in enumerate(drawn):
        body.extend(_panel(panel, index * WIDTH))
    body.append("</svg>")
    path.write_text("\n".join(body) + "\n", encoding="utf-8")
