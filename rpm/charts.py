"""Trend charts as server-rendered SVG: no script, no CDN, works under the strict CSP.
A line of the readings (thinned to at most MAX_POINTS by keeping each bucket's lowest and
highest, so spikes survive), threshold lines, and a few labelled ticks."""

from datetime import datetime, timedelta

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

WIDTH, HEIGHT = 720, 220
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 12, 28
MAX_POINTS = 600


def thin(points: list[tuple[datetime, float]], limit: int = MAX_POINTS):
    """Keep the lowest and highest reading of each time bucket (in time order)."""
    if len(points) <= limit:
        return points
    buckets = limit // 2
    start, end = points[0][0], points[-1][0]
    span = (end - start).total_seconds() or 1
    kept: dict[int, list] = {}
    for moment, value in points:
        index = min(buckets - 1, int((moment - start).total_seconds() / span * buckets))
        low_high = kept.setdefault(index, [(moment, value), (moment, value)])
        if value < low_high[0][1]:
            low_high[0] = (moment, value)
        if value > low_high[1][1]:
            low_high[1] = (moment, value)
    out = []
    for index in sorted(kept):
        low, high = kept[index]
        out += sorted({low, high})
    return out


def line_chart(
    *,
    points: list[tuple[datetime, float]],
    start: datetime,
    end: datetime,
    limits: list[tuple[float, str]],
    unit: str,
    label: str,
) -> SafeString:
    points = thin(points)
    values = [v for _, v in points] + [v for v, _ in limits]
    low = min(values) if values else 0
    high = max(values) if values else 1
    pad = (high - low) * 0.1 or 1
    low, high = low - pad, high + pad
    span = (end - start).total_seconds() or 1
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(moment: datetime) -> float:
        return LEFT + (moment - start).total_seconds() / span * plot_w

    def y(value: float) -> float:
        return TOP + (high - value) / (high - low) * plot_h

    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="{escape(label)}" xmlns="http://www.w3.org/2000/svg">',
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" class="chart__area"/>',
    ]
    for step in range(5):
        value = low + (high - low) * step / 4
        parts.append(
            f'<text x="{LEFT - 6}" y="{y(value) + 4:.1f}" class="chart__tick" '
            f'text-anchor="end">{value:.0f}</text>'
        )
    days = max(1, round(span / 86400))
    every = 1 if days <= 7 else 7 if days <= 31 else 15
    day = start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    while day < end:
        if (day - start).days % every == 0:
            parts.append(
                f'<text x="{x(day):.1f}" y="{HEIGHT - 8}" class="chart__tick" '
                f'text-anchor="middle">{day:%d %b}</text>'
            )
        day += timedelta(days=1)
    for value, severity in limits:
        if low <= value <= high:
            parts.append(
                f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y(value):.1f}" y2="{y(value):.1f}" '
                f'class="chart__limit chart__limit--{severity}"/>'
            )
    if points:
        path = " ".join(f"{x(m):.1f},{y(v):.1f}" for m, v in points)
        parts.append(f'<polyline points="{path}" class="chart__line"/>')
        if len(points) <= 120:
            parts += [
                f'<circle cx="{x(m):.1f}" cy="{y(v):.1f}" r="2.5" class="chart__dot"/>'
                for m, v in points
            ]
    parts.append(
        f'<text x="{WIDTH - RIGHT}" y="{TOP + 12}" class="chart__unit" '
        f'text-anchor="end">{escape(unit)}</text></svg>'
    )
    # Built from numbers and escaped text only.
    return mark_safe("".join(parts))  # noqa: S308
