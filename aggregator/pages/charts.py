"""Small charts drawn on the server as inline SVG: no script, no library, readable in print.

Why no library: the pages need two shapes (bars per hour or day, a line of kiosks online
over a day). matplotlib or pygal would bring tens of megabytes (or lxml) to a Pi for what
a hundred lines of markup do, and their SVG carries inline styles that the pages' strict
Content-Security-Policy (``style-src 'self'``) would block. These charts:

- are ``<svg role="img">`` labelled by their own ``<title>`` and ``<desc>`` (the desc
  says the period, the total and the highest value, for screen readers), and each bar
  carries a ``<title>`` with its label and value; the page puts the same figures in a
  table beside the chart (:func:`table_rows` feeds it);
- mean nothing by colour alone: one series per bar chart, and on the line chart the two
  series differ by line style (solid and dashed), named in a legend of words;
- have axis labels, a y axis of round numbers from zero, counts written with thousands
  separators (huge counts widen the axis instead of overflowing it), and say "nothing"
  in words when every value is zero;
- take every word from the caller, already translated (Korean or English), and escape it;
- style only through classes of ``pages.css`` (black and grey in print).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH = 480
HEIGHT = 250
TOP = 12
BOTTOM = 46
RIGHT = 10
CHAR_W = 9.0
"""Room per character of a y axis label (a digit at the 16px font narrow screens use)."""


@dataclass(frozen=True)
class Bar:
    """One bar: its short axis label (may be empty), its full label, its value."""

    label: str
    long_label: str
    value: int


@dataclass(frozen=True)
class Point:
    """One sample of the line chart: where on the x axis (0..1), and its two values."""

    x: float
    long_label: str
    value: int | None
    total: int | None


@dataclass(frozen=True)
class Words:
    """The translated words a chart shows."""

    title: str
    x_axis: str
    y_axis: str
    empty: str
    summary: str
    """Said in the desc after the title: e.g. "Total 42, highest 9 (14:00)"."""


def count(value: int) -> str:
    """A count with thousands separators (the same in Korean and English)."""
    return f"{value:,}"


def nice_ticks(highest: int, most: int = 5) -> list[int]:
    """Round y axis ticks from 0 up to at least ``highest`` (0 and 1 when it is 0)."""
    if highest <= 0:
        return [0, 1]
    raw = highest / (most - 1)
    power = 10 ** math.floor(math.log10(raw)) if raw >= 1 else 1
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    step = max(int(step), 1)
    top = -(-highest // step) * step
    return list(range(0, top + 1, step))


def _frame(chart_id: str, words: Words, ticks: Sequence[int]) -> tuple[list[str], float, float]:
    """The svg opening, title, desc, grid and axes; the plot's left edge and width."""
    label_w = max(len(count(t)) for t in ticks) * CHAR_W
    left = 32 + label_w  # the y axis title, then the tick labels
    plot_w = WIDTH - left - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    cid = escape(chart_id)
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{cid}-title {cid}-desc" focusable="false">',
        f'<title id="{cid}-title">{escape(words.title)}</title>',
        f'<desc id="{cid}-desc">{escape(words.summary)}</desc>',
    ]
    for tick in ticks:
        y = TOP + plot_h - plot_h * tick / ticks[-1]
        parts.append(
            f'<line class="grid" x1="{left:.1f}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
        )
        parts.append(
            f'<text class="tick" x="{left - 6:.1f}" y="{y + 4:.1f}" text-anchor="end">'
            f"{count(tick)}</text>"
        )
    bottom = TOP + plot_h
    parts.append(f'<line class="axis" x1="{left:.1f}" x2="{left:.1f}" y1="{TOP}" y2="{bottom}"/>')
    parts.append(
        f'<line class="axis" x1="{left:.1f}" x2="{WIDTH - RIGHT}" y1="{bottom}" y2="{bottom}"/>'
    )
    middle_y = TOP + plot_h / 2
    parts.append(
        f'<text class="axis-title" x="13" y="{middle_y:.1f}" text-anchor="middle" '
        f'transform="rotate(-90 13 {middle_y:.1f})">{escape(words.y_axis)}</text>'
    )
    parts.append(
        f'<text class="axis-title" x="{left + plot_w / 2:.1f}" y="{HEIGHT - 4}" '
        f'text-anchor="middle">{escape(words.x_axis)}</text>'
    )
    return parts, left, plot_w


def _empty_note(parts: list[str], left: float, plot_w: float, text: str) -> None:
    y = TOP + (HEIGHT - TOP - BOTTOM) / 2
    parts.append(
        f'<text class="empty" x="{left + plot_w / 2:.1f}" y="{y:.1f}" text-anchor="middle">'
        f"{escape(text)}</text>"
    )


def bar_chart(chart_id: str, words: Words, bars: Sequence[Bar]) -> Markup:
    """A bar per value; axis labels where ``Bar.label`` is not empty."""
    if not bars:
        raise ValueError("a bar chart needs bars")
    highest = max(bar.value for bar in bars)
    ticks = nice_ticks(highest)
    parts, left, plot_w = _frame(chart_id, words, ticks)
    plot_h = HEIGHT - TOP - BOTTOM
    slot = plot_w / len(bars)
    for i, bar in enumerate(bars):
        height = plot_h * max(bar.value, 0) / ticks[-1]
        x = left + slot * i + slot * 0.15
        parts.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - height:.1f}" '
            f'width="{slot * 0.7:.1f}" height="{height:.1f}">'
            f"<title>{escape(bar.long_label)}: {count(bar.value)}</title></rect>"
        )
        if bar.label:
            parts.append(
                f'<text class="tick" x="{left + slot * (i + 0.5):.1f}" '
                f'y="{TOP + plot_h + 19}" text-anchor="middle">{escape(bar.label)}</text>'
            )
    if highest <= 0:
        _empty_note(parts, left, plot_w, words.empty)
    parts.append("</svg>")
    return Markup("".join(parts))


def line_chart(
    chart_id: str,
    words: Words,
    points: Sequence[Point],
    x_ticks: Sequence[tuple[float, str]],
) -> Markup:
    """``value`` as a solid line over a light area, ``total`` as a dashed line.

    A point whose values are None (no sample then) breaks both lines. ``x_ticks`` are
    (position 0..1, label) pairs.
    """
    highest = max(
        [p.value for p in points if p.value is not None]
        + [p.total for p in points if p.total is not None]
        + [0]
    )
    ticks = nice_ticks(highest)
    parts, left, plot_w = _frame(chart_id, words, ticks)
    plot_h = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h

    def xy(point: Point, value: int) -> tuple[float, float]:
        return left + plot_w * point.x, bottom - plot_h * value / ticks[-1]

    def joined(pairs: Sequence[tuple[float, float]]) -> str:
        return " ".join(f"{x:.1f},{y:.1f}" for x, y in pairs)

    for position, label in x_ticks:
        x = left + plot_w * position
        parts.append(
            f'<line class="axis" x1="{x:.1f}" x2="{x:.1f}" y1="{bottom}" y2="{bottom + 4}"/>'
        )
        parts.append(
            f'<text class="tick" x="{x:.1f}" y="{bottom + 19}" text-anchor="middle">'
            f"{escape(label)}</text>"
        )
    for run in _runs(points):
        values = [xy(p, p.value or 0) for p in run]
        totals = [xy(p, p.total or 0) for p in run]
        area = [(values[0][0], bottom), *values, (values[-1][0], bottom)]
        parts.append(f'<polygon class="area" points="{joined(area)}"/>')
        parts.append(f'<polyline class="line-total" points="{joined(totals)}"/>')
        parts.append(f'<polyline class="line-value" points="{joined(values)}"/>')
        if len(run) == 1:  # a lone sample still shows
            x, y = values[0]
            parts.append(f'<circle class="dot" cx="{x:.1f}" cy="{y:.1f}" r="2.5"/>')
    if not any(p.value is not None for p in points):
        _empty_note(parts, left, plot_w, words.empty)
    parts.append("</svg>")
    return Markup("".join(parts))


def _runs(points: Sequence[Point]) -> list[list[Point]]:
    """Consecutive points with values, split where a sample is missing."""
    runs: list[list[Point]] = []
    current: list[Point] = []
    for point in points:
        if point.value is None or point.total is None:
            if current:
                runs.append(current)
            current = []
        else:
            current.append(point)
    if current:
        runs.append(current)
    return runs


def legend_line(kind: str) -> Markup:
    """A small sample of a line chart's line (``value`` or ``total``) for a legend."""
    if kind not in ("value", "total"):
        raise ValueError("kind is value or total")
    return Markup(
        f'<svg class="legend-line" viewBox="0 0 28 10" aria-hidden="true" focusable="false">'
        f'<line class="line-{kind}" x1="1" x2="27" y1="5" y2="5"/></svg>'
    )
