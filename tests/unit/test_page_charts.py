"""The staff pages' server-side SVG charts: well formed, labelled, zero and huge data, escaping."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aggregator.pages.charts import (
    Bar,
    Point,
    Words,
    bar_chart,
    count,
    legend_line,
    line_chart,
    nice_ticks,
)

WORDS = Words(
    title="Check-ins per hour",
    x_axis="Hour",
    y_axis="Check-ins",
    empty="No check-ins in this period",
    summary="Total 0.",
)


def parse(svg: str) -> ET.Element:
    """The chart as XML (inline SVG in HTML has no namespace: added here to parse)."""
    return ET.fromstring(svg.replace("<svg ", '<svg xmlns="x" ', 1))


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter("{x}text")]


def test_bars_are_labelled_for_screen_readers_and_print() -> None:
    bars = [Bar(label=f"{h:02}", long_label=f"12-03 {h:02}:00", value=h) for h in range(24)]
    svg = str(bar_chart("hours", WORDS, bars))
    root = parse(svg)
    assert root.get("role") == "img" and root.get("aria-labelledby") == "hours-title hours-desc"
    assert root.find("{x}title").text == WORDS.title and root.find("{x}desc").text == "Total 0."
    rects = list(root.iter("{x}rect"))
    assert len(rects) == 24
    assert rects[23].find("{x}title").text == "12-03 23:00: 23"
    assert {"Hour", "Check-ins", "00", "23", "0", "30"} <= set(texts(root))
    assert "style=" not in svg and "http" not in svg and "<script" not in svg
    heights = [float(r.get("height")) for r in rects]
    assert heights == sorted(heights) and heights[0] == 0


def test_all_zero_says_so_in_words() -> None:
    bars = [Bar(label="", long_label=str(i), value=0) for i in range(14)]
    root = parse(str(bar_chart("days", WORDS, bars)))
    assert WORDS.empty in texts(root)
    assert all(float(r.get("height")) == 0 for r in root.iter("{x}rect"))
    assert nice_ticks(0) == [0, 1]


@pytest.mark.parametrize("highest", [1, 7, 10, 99, 101, 12_345, 10**9, 2**53, 10**18])
def test_huge_counts_get_round_ticks_and_room(highest: int) -> None:
    ticks = nice_ticks(highest)
    assert ticks[0] == 0 and ticks[-1] >= highest and 2 <= len(ticks) <= 6
    steps = {b - a for a, b in zip(ticks, ticks[1:], strict=False)}
    assert len(steps) == 1
    bars = [Bar(label="a", long_label="a", value=highest), Bar(label="b", long_label="b", value=0)]
    root = parse(str(bar_chart("big", WORDS, bars)))
    assert count(ticks[-1]) in texts(root)
    first_bar_x = float(next(root.iter("{x}rect")).get("x"))
    assert first_bar_x > len(count(ticks[-1])) * 7  # the axis labels have their room
    assert all(float(r.get("height")) <= 250 for r in root.iter("{x}rect"))


@given(st.lists(st.integers(min_value=0, max_value=2**62), min_size=1, max_size=40))
def test_any_counts_make_a_well_formed_chart(values: list[int]) -> None:
    bars = [Bar(label=str(i), long_label=str(i), value=v) for i, v in enumerate(values)]
    root = parse(str(bar_chart("any", WORDS, bars)))
    top = max(values)
    for rect in root.iter("{x}rect"):
        assert 0 <= float(rect.get("height")) <= 250
    if top == 0:
        assert WORDS.empty in texts(root)


def test_words_are_escaped() -> None:
    hostile = Words(
        title="<script>x</script>", x_axis="&", y_axis='"', empty="<b>", summary="</desc>"
    )
    bars = [Bar(label="<i>", long_label="</title><script>", value=1)]
    svg = str(bar_chart('a"b', hostile, bars))
    assert "<script" not in svg and "<i>" not in svg and "<b>" not in svg
    parse(svg)


def test_line_chart_breaks_at_missing_samples() -> None:
    points = [
        Point(x=i / 10, long_label=str(i), value=None if i in (4, 5) else i, total=10)
        for i in range(10)
    ]
    svg = str(line_chart("online", WORDS, points, [(0.0, "00"), (0.5, "12"), (1.0, "24")]))
    root = parse(svg)
    assert len([p for p in root.iter("{x}polyline") if p.get("class") == "line-value"]) == 2
    assert len([p for p in root.iter("{x}polyline") if p.get("class") == "line-total"]) == 2
    assert {"00", "12", "24"} <= set(texts(root))
    empty = parse(str(line_chart("none", WORDS, [], [])))
    assert WORDS.empty in texts(empty) and not list(empty.iter("{x}polyline"))
    lone = parse(str(line_chart("lone", WORDS, [Point(0.5, "x", 3, 4)], [])))
    assert len(list(lone.iter("{x}circle"))) == 1


def test_legend_lines_differ_by_style_not_colour_alone() -> None:
    assert 'class="line-value"' in legend_line("value")
    assert 'class="line-total"' in legend_line("total")
    with pytest.raises(ValueError):
        legend_line("other")
    with pytest.raises(ValueError):
        bar_chart("x", WORDS, [])
