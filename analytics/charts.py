"""Dashboard charts as server-rendered SVG, the way rpm/charts.py draws trends: no script, no
CDN, fine under the strict CSP. Each chart is an image with a title and a description, and
the page puts the table of the same numbers beside it (the accessible version)."""

from collections.abc import Sequence
from itertools import count

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

# Sized for a half-width panel on a desktop (about 1:1) so the text stays legible when a
# phone scales the drawing down.
WIDTH = 440
BAR_HEIGHT, BAR_GAP = 20, 8
LABEL_W, VALUE_W = 160, 56
COLUMN_HEIGHT = 150
LEFT, BOTTOM, TOP = 40, 36, 12

_ids = count(1)


def _head(*, width: int, height: int, title: str, desc: str) -> list[str]:
    n = next(_ids)
    return [
        f'<svg class="dash-chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="chart-{n}-t chart-{n}-d" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="chart-{n}-t">{escape(title)}</title>',
        f'<desc id="chart-{n}-d">{escape(desc)}</desc>',
    ]


def bar_chart(
    *, bars: Sequence[tuple[str, float]], title: str, desc: str, unit: str = ""
) -> SafeString:
    """Horizontal bars, one per (label, value), longest = full width."""
    height = max(1, len(bars)) * (BAR_HEIGHT + BAR_GAP) + BAR_GAP
    parts = _head(width=WIDTH, height=height, title=title, desc=desc)
    high = max((value for _, value in bars), default=0) or 1
    plot_w = WIDTH - LABEL_W - VALUE_W
    for index, (label, value) in enumerate(bars):
        y = BAR_GAP + index * (BAR_HEIGHT + BAR_GAP)
        width = max(0.0, value) / high * plot_w
        shown = f"{value:,.0f}" if float(value).is_integer() else f"{value:,.1f}"
        parts += [
            f'<text x="{LABEL_W - 8}" y="{y + 16}" class="dash-chart__label" '
            f'text-anchor="end">{escape(label[:24])}</text>',
            f'<rect x="{LABEL_W}" y="{y}" width="{width:.1f}" height="{BAR_HEIGHT}" rx="3" '
            f'class="dash-chart__bar dash-chart__bar--{index % 4}"/>',
            f'<text x="{LABEL_W + width + 6:.1f}" y="{y + 16}" class="dash-chart__value">'
            f"{shown}{escape(unit)}</text>",
        ]
    parts.append("</svg>")
    # Built from numbers and escaped text only.
    return mark_safe("".join(parts))  # noqa: S308


def column_chart(
    *, columns: Sequence[tuple[str, float]], title: str, desc: str, unit: str = ""
) -> SafeString:
    """Vertical columns in time order (weeks), a few labelled ticks."""
    parts = _head(width=WIDTH, height=COLUMN_HEIGHT + BOTTOM + TOP, title=title, desc=desc)
    high = max((value for _, value in columns), default=0) or 1
    plot_w = WIDTH - LEFT - 8
    step = plot_w / max(1, len(columns))
    base = TOP + COLUMN_HEIGHT
    for fraction in (0, 0.5, 1):
        y = base - fraction * COLUMN_HEIGHT
        parts += [
            f'<line x1="{LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'class="dash-chart__grid"/>',
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" class="dash-chart__tick" text-anchor="end">'
            f"{high * fraction:,.0f}{escape(unit)}</text>",
        ]
    every = max(1, round(len(columns) / 6))
    for index, (label, value) in enumerate(columns):
        x = LEFT + index * step
        h = max(0.0, value) / high * COLUMN_HEIGHT
        parts.append(
            f'<rect x="{x + step * 0.15:.1f}" y="{base - h:.1f}" width="{step * 0.7:.1f}" '
            f'height="{h:.1f}" rx="2" class="dash-chart__bar dash-chart__bar--0"/>'
        )
        if index % every == 0:
            parts.append(
                f'<text x="{x + step / 2:.1f}" y="{base + 20}" class="dash-chart__tick" '
                f'text-anchor="middle">{escape(label)}</text>'
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308
