"""ROC and FROC curves drawn on the server as inline SVG, for the test report: WeasyPrint runs no
JavaScript, so the Chart.js chart of the run page cannot be printed. Both draw the same points of the run's
results (``results["curves"]``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

CURVE_COLOUR = "#256ef4"
AXIS_COLOUR = "#58616a"
GRID_COLOUR = "#d6dae0"
TEXT_COLOUR = "#1e2124"
# FROC's horizontal axis: false positives per image on a log2 scale, the rates of the usual FROC score.
FROC_TICKS = (0.125, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0)


def _clip(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def _points(points: Sequence[Sequence[float | None]]) -> list[tuple[float, float]]:
    # The results write a coordinate they could not compute as null: such a point is not drawn.
    clean = []
    for point in points:
        numbers = [
            float(value)
            for value in point[:2]
            if isinstance(value, int | float) and not isinstance(value, bool)
        ]
        if len(numbers) == 2 and all(math.isfinite(value) for value in numbers):
            clean.append((numbers[0], numbers[1]))
    return clean


def _tick(value: float) -> str:
    return f"{value:g}"


def _frame(
    *, title: str, x_label: str, y_label: str, width: int, height: int, left: int, top: int
) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="Pretendard GOV, sans-serif" font-size="10">',
        f'<text x="0" y="14" font-size="12" font-weight="700" fill="#052b57">{escape(title)}</text>',
        f'<text x="{left + (width - left - 12) / 2:.1f}" y="{height - 4}" text-anchor="middle" '
        f'fill="{TEXT_COLOUR}">{escape(x_label)}</text>',
        f'<text x="12" y="{top + (height - top - 40) / 2:.1f}" text-anchor="middle" fill="{TEXT_COLOUR}" '
        f'transform="rotate(-90 12 {top + (height - top - 40) / 2:.1f})">{escape(y_label)}</text>',
    ]


def svg_roc(
    points: Sequence[Sequence[float | None]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    legend: str = "",
    width: int = 360,
    height: int = 340,
) -> SafeString:
    """The ROC curve (false-positive rate → sensitivity) on the unit square, with the chance diagonal."""
    left, top, right, bottom = 46, 26, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(x: float) -> float:
        return left + _clip(x, 0.0, 1.0) * plot_w

    def sy(y: float) -> float:
        return top + (1.0 - _clip(y, 0.0, 1.0)) * plot_h

    parts = _frame(
        title=title, x_label=x_label, y_label=y_label, width=width, height=height, left=left, top=top
    )
    for step in range(6):
        value = step / 5
        parts.append(
            f'<line x1="{sx(value):.1f}" y1="{top}" x2="{sx(value):.1f}" y2="{top + plot_h}" '
            f'stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<line x1="{left}" y1="{sy(value):.1f}" x2="{left + plot_w}" y2="{sy(value):.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<text x="{sx(value):.1f}" y="{top + plot_h + 13}" text-anchor="middle" fill="{AXIS_COLOUR}">'
            f"{_tick(value)}</text>"
            f'<text x="{left - 5}" y="{sy(value) + 3:.1f}" text-anchor="end" fill="{AXIS_COLOUR}">'
            f"{_tick(value)}</text>"
        )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{AXIS_COLOUR}"/>'
    )
    parts.append(
        f'<line x1="{sx(0):.1f}" y1="{sy(0):.1f}" x2="{sx(1):.1f}" y2="{sy(1):.1f}" stroke="{AXIS_COLOUR}" '
        'stroke-width="1" stroke-dasharray="4 3"/>'
    )
    clean = _points(points)
    if clean:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in clean)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{CURVE_COLOUR}" stroke-width="2"/>')
    if legend:
        parts.append(
            f'<text x="{left + plot_w - 6}" y="{top + plot_h - 8}" text-anchor="end" fill="{CURVE_COLOUR}" '
            f'font-weight="700">{escape(legend)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped, every number formatted


def svg_froc(
    points: Sequence[Sequence[float | None]],
    *,
    title: str,
    x_label: str,
    y_label: str,
    legend: str = "",
    width: int = 420,
    height: int = 340,
) -> SafeString:
    """The FROC curve: sensitivity against false positives per image, the latter on a log2 axis from 1/8
    to 8 (points outside are drawn at the edge)."""
    left, top, right, bottom = 46, 26, 12, 40
    plot_w, plot_h = width - left - right, height - top - bottom
    low, high = math.log2(FROC_TICKS[0]), math.log2(FROC_TICKS[-1])

    def sx(x: float) -> float:
        position = math.log2(x) if x > 0 else low
        return left + (_clip(position, low, high) - low) / (high - low) * plot_w

    def sy(y: float) -> float:
        return top + (1.0 - _clip(y, 0.0, 1.0)) * plot_h

    parts = _frame(
        title=title, x_label=x_label, y_label=y_label, width=width, height=height, left=left, top=top
    )
    for tick in FROC_TICKS:
        parts.append(
            f'<line x1="{sx(tick):.1f}" y1="{top}" x2="{sx(tick):.1f}" y2="{top + plot_h}" '
            f'stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<text x="{sx(tick):.1f}" y="{top + plot_h + 13}" text-anchor="middle" fill="{AXIS_COLOUR}">'
            f"{_tick(tick)}</text>"
        )
    for step in range(6):
        value = step / 5
        parts.append(
            f'<line x1="{left}" y1="{sy(value):.1f}" x2="{left + plot_w}" y2="{sy(value):.1f}" '
            f'stroke="{GRID_COLOUR}" stroke-width="0.6"/>'
            f'<text x="{left - 5}" y="{sy(value) + 3:.1f}" text-anchor="end" fill="{AXIS_COLOUR}">'
            f"{_tick(value)}</text>"
        )
    parts.append(
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="{AXIS_COLOUR}"/>'
    )
    clean = sorted(_points(points))
    if clean:
        path = " ".join(f"{sx(x):.1f},{sy(y):.1f}" for x, y in clean)
        parts.append(f'<polyline points="{path}" fill="none" stroke="{CURVE_COLOUR}" stroke-width="2"/>')
        for x, y in clean:
            if FROC_TICKS[0] <= x <= FROC_TICKS[-1]:
                parts.append(f'<circle cx="{sx(x):.1f}" cy="{sy(y):.1f}" r="2.2" fill="{CURVE_COLOUR}"/>')
    if legend:
        parts.append(
            f'<text x="{left + plot_w - 6}" y="{top + plot_h - 8}" text-anchor="end" fill="{CURVE_COLOUR}" '
            f'font-weight="700">{escape(legend)}</text>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped, every number formatted


def results_curve_svg(kind: str, points: Sequence[Sequence[float | None]], *, legend: str = "") -> SafeString:
    """The run's curve (``results["curves"]``: "roc" or "froc") with its labels in the active language;
    empty for a task without one."""
    if kind == "roc" and points:
        return svg_roc(
            points,
            title=_("ROC 곡선"),
            x_label=_("1 - 특이도 (위양성률)"),
            y_label=_("민감도"),
            legend=legend,
        )
    if kind == "froc" and points:
        return svg_froc(
            points, title=_("FROC 곡선"), x_label=_("영상당 위양성 수"), y_label=_("민감도"), legend=legend
        )
    return mark_safe("")
