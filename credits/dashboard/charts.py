"""Charts drawn on the server as inline SVG: no JavaScript, no chart library.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and described by a ``<desc>``
that reads out every number; the page also carries the same numbers in a table (visually
hidden) for screen readers and for copying. Colours pass WCAG contrast against white and
each series is also told apart by its legend text and position, not by colour alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

from credits.i18n import format_number

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 64, 12, 36, 40
ISSUED_COLOUR = "#00594c"  # the brand green
REDEEMED_COLOUR = "#1d70b8"  # blue
LINE_COLOUR = "#6f2c91"  # purple
GRID_COLOUR = "#b1b4b6"
INK = "#1b1b1b"


@dataclass(frozen=True, slots=True)
class Series:
    """One named series of whole numbers, one per label."""

    name: str
    values: Sequence[int]
    colour: str


def nice_ceiling(value: int) -> int:
    """The smallest "round" number (1, 2, 2.5, 5 × 10^k) at or above ``value`` (≥ 1)."""
    if value <= 0:
        return 1
    scale = 1
    while scale * 10 < value:
        scale *= 10
    for step in (1, 2, 5, 10):
        if step * scale >= value:
            return step * scale
    return 10 * scale


def _ticks(top: int) -> list[int]:
    return [top * i // 4 for i in range(5)] if top >= 4 else list(range(top + 1))


def _frame(chart_id: str, title: str, desc: str, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" '
        f'xmlns="http://www.w3.org/2000/svg" preserveAspectRatio="xMidYMid meet">'
        f'<title id="{chart_id}-title">{escape(title)}</title>'
        f'<desc id="{chart_id}-desc">{escape(desc)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")  # noqa: S704 (every text is escaped)


def _axes(top: int, labels: Sequence[str]) -> tuple[list[str], float, float]:
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    body = []
    for tick in _ticks(top):
        y = TOP + plot_h - plot_h * tick / top
        body.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="1"/>'
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="12" '
            f'fill="{INK}">{format_number(tick)}</text>'
        )
    slot = plot_w / max(1, len(labels))
    for i, label in enumerate(labels):
        x = LEFT + slot * (i + 0.5)
        # "Jan 2026" is drawn on two lines (month, then year) so that labels never overlap.
        for line, text in enumerate(label.split(" ", 1)):
            body.append(
                f'<text x="{x:.1f}" y="{HEIGHT - BOTTOM + 16 + 14 * line}" '
                f'text-anchor="middle" font-size="12" fill="{INK}">{escape(text)}</text>'
            )
    return body, plot_h, slot


def _legend(series: Sequence[Series]) -> list[str]:
    body = []
    x = LEFT
    for s in series:
        body.append(
            f'<rect x="{x}" y="10" width="14" height="14" fill="{s.colour}"/>'
            f'<text x="{x + 20}" y="22" font-size="13" fill="{INK}">{escape(s.name)}</text>'
        )
        x += 28 + 8 * len(s.name)
    return body


def bar_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Sequence[Series], unit: str
) -> Markup:
    """Grouped bars: one group per label, one bar per series."""
    assert all(len(s.values) == len(labels) for s in series)
    top = nice_ceiling(max([v for s in series for v in s.values] + [1]))
    body, plot_h, slot = _axes(top, labels)
    bar_w = slot * 0.8 / max(1, len(series))
    for i in range(len(labels)):
        for j, s in enumerate(series):
            value = max(0, s.values[i])
            h = plot_h * value / top
            x = LEFT + slot * i + slot * 0.1 + bar_w * j
            body.append(
                f'<rect x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar_w - 1:.1f}" '
                f'height="{h:.1f}" fill="{s.colour}"/>'
            )
    body += _legend(series)
    desc = "; ".join(
        f"{label}: "
        + ", ".join(f"{s.name.lower()} {format_number(s.values[i])} {unit}" for s in series)
        for i, label in enumerate(labels)
    )
    return _frame(chart_id, title, desc, body)


def step_chart(
    chart_id: str, title: str, labels: Sequence[str], series: Series, unit: str
) -> Markup:
    """A step line: the value holds from one point to the next (balances at month ends)."""
    values = list(series.values)
    top = nice_ceiling(max([*values, 1]))
    body, plot_h, slot = _axes(top, labels)

    def y(v: int) -> float:
        return TOP + plot_h - plot_h * max(0, v) / top

    points: list[str] = []
    for i, v in enumerate(values):
        x0 = LEFT + slot * i
        points.append(f"{x0:.1f},{y(v):.1f} {x0 + slot:.1f},{y(v):.1f}")
    body.append(
        f'<polyline points="{" ".join(points)}" fill="none" stroke="{series.colour}" '
        'stroke-width="3"/>'
    )
    for i, v in enumerate(values):
        x = LEFT + slot * (i + 0.5)
        body.append(f'<circle cx="{x:.1f}" cy="{y(v):.1f}" r="4" fill="{series.colour}"/>')
    body += _legend([series])
    desc = "; ".join(
        f"{label}: {format_number(v)} {unit}" for label, v in zip(labels, values, strict=True)
    )
    return _frame(chart_id, title, desc, body)
