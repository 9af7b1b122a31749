"""Server-side SVG charts (no script, no library): horizontal bars and lines over time.

Every chart is an ``<svg role="img">`` with a ``<title>`` and ``<desc>`` and a ``<title>`` on
each mark, so it reads without colour; series differ by colour and dash pattern, both with
at least 3:1 contrast on white.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from html import escape
from typing import Final

from markupsafe import Markup

PALETTE: Final = ("#1f5fbf", "#b3261e", "#2e7d32", "#6a1b9a", "#8a5a00", "#00695c")
DASHES: Final = ("", "6 3", "2 3", "8 3 2 3", "1 2", "10 4")
WIDTH: Final = 640
ROW_H: Final = 26
LABEL_W: Final = 220


def bar_chart(title: str, rows: Sequence[tuple[str, float]], fmt: Callable[[float], str]) -> Markup:
    """One horizontal bar per (label, value), scaled to the largest value."""
    if not rows:
        return _empty(title)
    top = max(value for _, value in rows) or 1.0
    span = WIDTH - LABEL_W - 90
    height = ROW_H * len(rows) + 10
    parts = [_open(title, f"{len(rows)} bars", height)]
    for i, (label, value) in enumerate(rows):
        y = 5 + i * ROW_H
        w = max(1.0, span * value / top)
        text = f"{label}: {fmt(value)}"
        parts.append(
            f'<text x="{LABEL_W - 8}" y="{y + 17}" text-anchor="end">{escape(label)}</text>'
            f'<rect x="{LABEL_W}" y="{y + 4}" width="{w:.1f}" height="{ROW_H - 8}" '
            f'fill="{PALETTE[0]}"><title>{escape(text)}</title></rect>'
            f'<text x="{LABEL_W + w + 6:.1f}" y="{y + 17}">{escape(fmt(value))}</text>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    title: str,
    x_labels: Sequence[str],
    series: dict[str, list[float | None]],
    fmt: Callable[[float], str],
    y_max: float = 1.0,
) -> Markup:
    """One line per series over `x_labels`; ``None`` leaves a gap (nothing to judge there)."""
    if not x_labels or not series:
        return _empty(title)
    left, right, top, bottom = 56, 20, 14, 40
    height = 240
    inner_w, inner_h = WIDTH - left - right, height - top - bottom
    step = inner_w / max(1, len(x_labels) - 1)

    def point(i: int, value: float) -> tuple[float, float]:
        return left + i * step, top + inner_h * (1 - min(value, y_max) / y_max)

    parts = [_open(title, f"{len(series)} series over {len(x_labels)} periods", height)]
    for tick in (0.0, 0.5, 1.0):
        y = top + inner_h * (1 - tick)
        parts.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#767676" '
            f'stroke-width="0.5"/><text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{escape(fmt(tick * y_max))}</text>"
        )
    for i, label in enumerate(x_labels):
        if len(x_labels) <= 8 or i % 2 == 0:
            x = left + i * step
            parts.append(
                f'<text x="{x:.1f}" y="{height - 18}" text-anchor="middle">{escape(label)}</text>'
            )
    for n, (name, values) in enumerate(series.items()):
        colour, dash = PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]
        for run in _runs(values):
            points = " ".join("{:.1f},{:.1f}".format(*point(i, v)) for i, v in run)
            parts.append(
                f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="2.5" '
                f'stroke-dasharray="{dash}"/>'
            )
        for i, value in enumerate(values):
            if value is not None:
                x, y = point(i, value)
                text = f"{name}, {x_labels[i]}: {fmt(value)}"
                parts.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}">'
                    f"<title>{escape(text)}</title></circle>"
                )
    parts.append("</svg>")
    return Markup("".join(parts))


def legend(names: Sequence[str]) -> list[tuple[str, str, str]]:
    """(name, colour, dash) of each series, in the order `line_chart` draws them."""
    return [
        (name, PALETTE[n % len(PALETTE)], DASHES[n % len(DASHES)]) for n, name in enumerate(names)
    ]


def _runs(values: Sequence[float | None]) -> list[list[tuple[int, float]]]:
    """Consecutive non-missing points."""
    runs: list[list[tuple[int, float]]] = [[]]
    for i, value in enumerate(values):
        if value is None:
            runs.append([])
        else:
            runs[-1].append((i, value))
    return [run for run in runs if len(run) > 1]


def _open(title: str, desc: str, height: int) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" style="max-width:{WIDTH}px" font-size="13" fill="#1a1a1a">'
        f"<title>{escape(title)}</title><desc>{escape(desc)}</desc>"
    )


def _empty(title: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} 40" '
        f'width="100%" style="max-width:{WIDTH}px" font-size="13">'
        f'<title>{escape(title)}</title><text x="8" y="24" fill="#1a1a1a">no data yet</text></svg>'
    )
