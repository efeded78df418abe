"""Charts as inline SVG markup, drawn on the server: no scripts, no fonts to fetch.

Each function takes plain data and returns markup ready to put in a page. Text is escaped;
every bar or column carries a `<title>` (the browser's tooltip and what a screen reader
reads); sizes are in a viewBox so the chart scales with its box. The page's Content-Security-
Policy forbids inline styles, so colours are presentation attributes and the font is the
page's own (CJK included) through staff.css.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

WIDTH_PX = 640
FONT_PX = 13
ROW_PX = 26
BAR_PX = 16
MAX_LABEL_PX = 180
COLUMN_HEIGHT_PX = 220
MAX_X_LABELS = 8
MAX_COLUMN_VALUES = 31  # above this the numbers would overlap: tooltips only
BAR_COLOUR = "#1d4e89"
ALERT_COLOUR = "#b42318"
TEXT_COLOUR = "#1f2328"
MUTED_COLOUR = "#667085"
GRID_COLOUR = "#e3e6ea"


@dataclass(frozen=True)
class Datum:
    """One bar or column: its label, its value, an optional link and a longer tooltip."""

    label: str
    value: int
    href: str = ""
    tip: str = ""


def text_width(text: str, font_px: float = FONT_PX) -> float:
    """Rough rendered width: CJK and other wide characters take a full em, the rest ~0.6."""
    ems = sum(1.0 if unicodedata.east_asian_width(ch) in "WF" else 0.6 for ch in text)
    return ems * font_px


def fit_text(text: str, max_px: float, font_px: float = FONT_PX) -> str:
    """The text cut with an ellipsis to fit `max_px` (the full text stays in the tooltip)."""
    if text_width(text, font_px) <= max_px:
        return text
    room = max_px - text_width("…", font_px)
    out = ""
    for ch in text:
        if text_width(out + ch, font_px) > room:
            break
        out += ch
    return out + "…"


def _svg(kind: str, title: str, width: float, height: float, body: str) -> Markup:
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {kind}" role="img" '
        f'aria-label="{escape(title)}" viewBox="0 0 {width:g} {height:g}" '
        f'width="{width:g}" height="{height:g}" font-size="{FONT_PX}" fill="{TEXT_COLOUR}">'
        f"<title>{escape(title)}</title>{body}</svg>"
    )


def empty_chart(title: str, message: str, width: int = WIDTH_PX) -> Markup:
    """A chart with nothing to draw says so instead of drawing an empty frame."""
    body = (
        f'<text class="empty" x="{width / 2:g}" y="34" text-anchor="middle" '
        f'fill="{MUTED_COLOUR}">{escape(message)}</text>'
    )
    return _svg("chart-empty", f"{title}:{message}", width, 56, body)


def _tip(d: Datum, unit: str) -> str:
    return f"{d.tip or d.label}:{d.value} {unit}"


def _linked(href: str, inner: str) -> str:
    return f'<a href="{escape(href)}">{inner}</a>' if href else inner


def bar_chart(
    data: Sequence[Datum],
    *,
    title: str,
    unit: str = "件",
    empty: str = "本期没有数据。",
    colour: str = BAR_COLOUR,
    width: int = WIDTH_PX,
) -> Markup:
    """Horizontal bars in the given order; lengths proportional to the values. `width` is
    the drawing's natural size in CSS pixels (it shrinks with a narrower box)."""
    if not data or max(d.value for d in data) <= 0:
        return empty_chart(title, empty, width)
    top = max(d.value for d in data)
    label_px = min(max(text_width(d.label) for d in data), MAX_LABEL_PX)
    value_px = text_width(str(top)) + 8
    x0 = label_px + 10
    span = width - x0 - value_px
    rows = []
    for i, d in enumerate(data):
        y = 6 + i * ROW_PX
        length = span * max(d.value, 0) / top
        middle = y + BAR_PX / 2
        rows.append(
            _linked(
                d.href,
                f'<g class="bar"><title>{escape(_tip(d, unit))}</title>'
                f'<text class="label" x="{label_px + 4:.1f}" y="{middle:.1f}" '
                f'text-anchor="end" dominant-baseline="central">'
                f"{escape(fit_text(d.label, label_px))}</text>"
                f'<rect x="{x0:.1f}" y="{y}" width="{length:.2f}" height="{BAR_PX}" '
                f'rx="2" fill="{colour}"/>'
                f'<text class="value" x="{x0 + length + 4:.1f}" y="{middle:.1f}" '
                f'dominant-baseline="central">{d.value}</text></g>',
            )
        )
    return _svg("chart-bars", title, width, 12 + len(data) * ROW_PX, "".join(rows))


def nice_ceiling(value: int) -> tuple[int, int]:
    """(axis top, step): the step is 1, 2 or 5 × 10ⁿ with at most four steps to the top."""
    value = max(value, 1)
    step = 1
    while True:
        for factor in (1, 2, 5):
            if factor * step * 4 >= value:
                step *= factor
                return math.ceil(value / step) * step, step
        step *= 10


def column_chart(
    data: Sequence[Datum],
    *,
    title: str,
    unit: str = "件",
    empty: str = "本期没有数据。",
    width: int = WIDTH_PX,
) -> Markup:
    """Columns over time (one per bucket, in order), with a y axis and sparse x labels."""
    if not data or max(d.value for d in data) <= 0:
        return empty_chart(title, empty, width)
    top, step = nice_ceiling(max(d.value for d in data))
    left = text_width(str(top)) + 10
    plot_top, bottom = 18, COLUMN_HEIGHT_PX - 26
    plot_h = bottom - plot_top
    slot = (width - left - 4) / len(data)
    parts = []
    for tick in range(0, top + 1, step):
        y = bottom - plot_h * tick / top
        parts.append(
            f'<line x1="{left:.1f}" x2="{width - 4}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}"/>'
            f'<text class="tick" x="{left - 6:.1f}" y="{y:.1f}" text-anchor="end" '
            f'dominant-baseline="central" fill="{MUTED_COLOUR}">{tick}</text>'
        )
    every = math.ceil(len(data) / MAX_X_LABELS)
    show_values = len(data) <= MAX_COLUMN_VALUES
    for i, d in enumerate(data):
        x = left + i * slot
        height = plot_h * max(d.value, 0) / top
        column = (
            f'<g class="column"><title>{escape(_tip(d, unit))}</title>'
            f'<rect x="{x + slot * 0.15:.2f}" y="{bottom - height:.2f}" '
            f'width="{slot * 0.7:.2f}" height="{height:.2f}" fill="{BAR_COLOUR}"/>'
        )
        if show_values and d.value > 0:
            column += (
                f'<text class="value" x="{x + slot / 2:.1f}" y="{bottom - height - 4:.1f}" '
                f'text-anchor="middle" font-size="11">{d.value}</text>'
            )
        if i % every == 0:
            column += (
                f'<text class="label" x="{x + slot / 2:.1f}" y="{bottom + 16}" '
                f'text-anchor="middle" font-size="11" fill="{MUTED_COLOUR}">'
                f"{escape(d.label)}</text>"
            )
        parts.append(_linked(d.href, column + "</g>"))
    return _svg("chart-columns", title, width, COLUMN_HEIGHT_PX, "".join(parts))
