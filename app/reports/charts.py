"""Small inline SVG charts for the HTML reports: no script, no external file, prints as vectors.

Every label is escaped. Colours come from the Okabe–Ito palette, which stays distinguishable
with the common colour-vision deficiencies; each bar also carries its number, so nothing
depends on colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

#: Okabe–Ito: blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, grey.
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#999999")
#: Force quality → colour (light: sky blue, good: bluish green, hard: vermillion).
QUALITY_COLOURS = {"too_light": "#56B4E9", "good": "#009E73", "too_hard": "#D55E00", "": "#999999"}


@dataclass(frozen=True, slots=True)
class Bar:
    label: str
    value: float
    colour: str = PALETTE[0]
    #: Text printed after the bar; defaults to the value.
    text: str | None = None


def _number(value: float) -> str:
    return f"{value:g}" if value != int(value) else str(int(value))


def hbar_chart(bars: Sequence[Bar], *, title: str, maximum: float | None = None, width: int = 560) -> str:
    """Horizontal bars, one row each, labelled on the left and numbered on the right."""
    row = 22
    label_w = 150
    value_w = 150
    plot_w = width - label_w - value_w
    top = max([maximum or 0.0, *(bar.value for bar in bars)]) or 1.0
    height = row * len(bars) + 30
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
    ]
    for index, bar in enumerate(bars):
        y = 10 + index * row
        length = max(0.0, bar.value) / top * plot_w
        text = bar.text if bar.text is not None else _number(bar.value)
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{escape(bar.label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{length:.1f}" height="{row - 6}" fill="{bar.colour}"/>'
            f'<text x="{label_w + length + 4:.1f}" y="{y + 14}" font-size="12">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart(
    bars: Sequence[Bar], *, title: str, x_label: str = "", y_label: str = "", width: int = 560, height: int = 200
) -> str:
    """Vertical columns (a histogram), labelled underneath, numbered on top."""
    left, bottom, top_pad = 40, 36, 18
    plot_w = width - left - 10
    plot_h = height - bottom - top_pad
    top = max((bar.value for bar in bars), default=0.0) or 1.0
    step = plot_w / max(1, len(bars))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{left}" y1="{top_pad + plot_h}" x2="{left + plot_w}" y2="{top_pad + plot_h}" stroke="#333"/>',
    ]
    for index, bar in enumerate(bars):
        h = max(0.0, bar.value) / top * plot_h
        x = left + index * step
        y = top_pad + plot_h - h
        text = bar.text if bar.text is not None else _number(bar.value)
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{y:.1f}" width="{max(1.0, step - 2):.1f}" height="{h:.1f}" fill="{bar.colour}"/>'
        )
        if bar.value:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{y - 3:.1f}" text-anchor="middle" font-size="10">'
                f"{escape(text)}</text>"
            )
        parts.append(
            f'<text x="{x + step / 2:.1f}" y="{top_pad + plot_h + 13}" text-anchor="middle" font-size="10">'
            f"{escape(bar.label)}</text>"
        )
    if x_label:
        parts.append(
            f'<text x="{left + plot_w / 2:.1f}" y="{height - 4}" text-anchor="middle" font-size="11">'
            f"{escape(x_label)}</text>"
        )
    if y_label:
        parts.append(
            f'<text x="12" y="{top_pad + plot_h / 2:.1f}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {top_pad + plot_h / 2:.1f})">{escape(y_label)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def diverging_chart(bars: Sequence[Bar], *, title: str, low: float, high: float, width: int = 560) -> str:
    """Horizontal bars from a zero line, for scores that can be negative (IGA −3 … +3)."""
    row = 22
    label_w = 200
    plot_w = width - label_w - 40
    span = (high - low) or 1.0
    zero_x = label_w + (0 - low) / span * plot_w
    height = row * len(bars) + 34
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-label="{escape(title)}">',
        f"<title>{escape(title)}</title>",
        f'<line x1="{zero_x:.1f}" y1="6" x2="{zero_x:.1f}" y2="{height - 20}" stroke="#333"/>',
    ]
    for tick in range(int(low), int(high) + 1):
        x = label_w + (tick - low) / span * plot_w
        parts.append(
            f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" font-size="10">{tick:+d}</text>'
            if tick
            else f'<text x="{x:.1f}" y="{height - 6}" text-anchor="middle" font-size="10">0</text>'
        )
    for index, bar in enumerate(bars):
        y = 8 + index * row
        end = label_w + (max(low, min(high, bar.value)) - low) / span * plot_w
        left, right = sorted((zero_x, end))
        text = bar.text if bar.text is not None else f"{bar.value:+g}"
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 14}" text-anchor="end" font-size="12">{escape(bar.label)}</text>'
            f'<rect x="{left:.1f}" y="{y + 2}" width="{max(1.0, right - left):.1f}" height="{row - 6}" '
            f'fill="{bar.colour}"/>'
            f'<text x="{right + 4:.1f}" y="{y + 14}" font-size="11">{escape(text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
