"""The SVG charts: proportional bars and columns, escaped text, tooltips, the empty state."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from hypothesis import given
from hypothesis import strategies as st

from staff.charts import (
    MAX_LABEL_PX,
    Datum,
    bar_chart,
    column_chart,
    fit_text,
    nice_ceiling,
    text_width,
)

SVG = "{http://www.w3.org/2000/svg}"


def parse(markup: str) -> ET.Element:
    """Well-formed XML, or the test fails here."""
    return ET.fromstring(markup)


def widths(svg: ET.Element, group: str) -> list[float]:
    return [float(r.attrib[group]) for r in svg.iter(f"{SVG}rect")]


def test_bar_lengths_are_proportional_and_each_bar_has_a_tooltip() -> None:
    data = [Datum("消费者权益保护科", 8), Datum("食品安全监管科", 4), Datum("质量监督科", 2)]
    svg = parse(bar_chart(data, title="按承办单位"))
    lengths = widths(svg, "width")
    assert lengths[0] > 0 and lengths[1] == lengths[0] / 2 and lengths[2] == lengths[0] / 4
    tips = [t.text for t in svg.iter(f"{SVG}title")]
    assert tips == ["按承办单位", "消费者权益保护科:8 件", "食品安全监管科:4 件", "质量监督科:2 件"]
    assert [t.text for t in svg.iter(f"{SVG}text") if t.attrib["class"] == "value"] == [
        "8",
        "4",
        "2",
    ]
    assert svg.attrib["role"] == "img" and svg.attrib["aria-label"] == "按承办单位"
    assert svg.attrib["viewBox"].startswith("0 0 640 ")


@given(st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=40))
def test_any_counts_draw_bars_within_the_chart(values: list[int]) -> None:
    svg = parse(bar_chart([Datum(str(i), v) for i, v in enumerate(values)], title="t"))
    if max(values) == 0:
        assert "chart-empty" in svg.attrib["class"]
        return
    width = float(svg.attrib["width"])
    rects = list(svg.iter(f"{SVG}rect"))
    top = max(values)
    longest = max(float(r.attrib["width"]) for r in rects)
    for rect, value in zip(rects, values, strict=True):
        assert float(rect.attrib["x"]) + float(rect.attrib["width"]) <= width
        assert abs(float(rect.attrib["width"]) - longest * value / top) < 0.02


def test_no_data_or_only_zeros_shows_a_message_not_a_crash() -> None:
    for data in ([], [Datum("投诉", 0)]):
        for chart in (bar_chart, column_chart):
            svg = parse(chart(data, title="按类型", empty="本期没有登记的案件。"))
            assert "chart-empty" in svg.attrib["class"]
            assert [t.text for t in svg.iter(f"{SVG}text")] == ["本期没有登记的案件。"]
            assert not list(svg.iter(f"{SVG}rect"))


def test_text_is_escaped_and_links_are_attributes() -> None:
    evil = '<script>alert("x")</script> & Co'
    markup = bar_chart([Datum(evil, 3, href="/staff/dashboard?unit=a&month=2026-11")], title=evil)
    assert "<script" not in markup
    svg = parse(markup)
    assert svg.attrib["aria-label"] == evil
    link = next(svg.iter(f"{SVG}a"))
    assert link.attrib["href"] == "/staff/dashboard?unit=a&month=2026-11"
    assert next(link.iter(f"{SVG}title")).text == f"{evil}:3 件"


def test_long_cjk_labels_are_cut_to_fit_and_kept_whole_in_the_tooltip() -> None:
    name = "城关镇东大街十二号便民超市有限公司第一分店"
    assert text_width("超市") == 2 * text_width("a") / 0.6
    cut = fit_text(name, MAX_LABEL_PX)
    assert cut.endswith("…") and text_width(cut) <= MAX_LABEL_PX and name.startswith(cut[:-1])
    svg = parse(bar_chart([Datum(name, 1)], title="被投诉对象"))
    labels = [t.text for t in svg.iter(f"{SVG}text") if t.attrib["class"] == "label"]
    assert labels == [cut]
    assert f"{name}:1 件" in [t.text for t in svg.iter(f"{SVG}title")]


def test_columns_share_one_scale_with_a_rounded_axis() -> None:
    days = [Datum(f"11-{d:02d}", v, tip=f"2026-11-{d:02d}") for d, v in [(1, 0), (2, 5), (3, 10)]]
    svg = parse(column_chart(days, title="登记件数"))
    heights = widths(svg, "height")
    assert heights[0] == 0 and heights[1] * 2 == heights[2]
    ticks = [t.text for t in svg.iter(f"{SVG}text") if t.attrib["class"] == "tick"]
    assert ticks == ["0", "5", "10"]
    tips = [t.text for t in svg.iter(f"{SVG}title")][1:]
    assert tips == ["2026-11-01:0 件", "2026-11-02:5 件", "2026-11-03:10 件"]
    assert nice_ceiling(7) == (8, 2) and nice_ceiling(30) == (30, 10) and nice_ceiling(0) == (1, 1)


def test_many_columns_keep_sparse_labels_and_no_value_text() -> None:
    year = [Datum(f"d{i}", i % 7) for i in range(366)]
    svg = parse(column_chart(year, title="按日"))
    texts = list(svg.iter(f"{SVG}text"))
    assert len([t for t in texts if t.attrib["class"] == "label"]) <= 8
    assert not [t for t in texts if t.attrib["class"] == "value"]
    assert len(list(svg.iter(f"{SVG}rect"))) == 366


def test_no_scripts_styles_or_external_references() -> None:
    markup = bar_chart([Datum("a", 1)], title="t") + column_chart([Datum("b", 2)], title="u")
    assert not re.search(r"<script|style=|<style|https?://(?!www\.w3\.org/2000/svg)", markup)
