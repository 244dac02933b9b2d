"""Bar charts drawn on the server as inline SVG, for the PDFs: WeasyPrint runs no JavaScript, so the
Chart.js charts of the page cannot be printed. The same figures feed both."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#256ef4", "#2e9b4f", "#d08a00", "#8a5cf6", "#d50136", "#0b7285", "#58616a")


def _number(value: Decimal | int | float) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:,.2f}"


def svg_bars(
    rows: Sequence[tuple[str, Decimal | int | float]],
    *,
    title: str,
    unit: str = "",
    width: int = 640,
    label_width: int = 170,
    bar_height: int = 18,
    gap: int = 8,
) -> SafeString:
    """Horizontal bars, one per (label, value), scaled to the largest value, each with its number."""
    top = 26
    height = top + max(len(rows), 1) * (bar_height + gap) + 4
    largest = max((float(value) for _label, value in rows), default=0.0)
    room = width - label_width - 90
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}" '
        'font-family="Pretendard GOV, sans-serif" font-size="11">',
        f'<text x="0" y="14" font-size="12" font-weight="700" fill="#052b57">{escape(title)}</text>',
    ]
    if not rows:
        parts.append(f'<text x="0" y="{top + 12}" fill="#58616a">-</text>')
    for index, (label, value) in enumerate(rows):
        y = top + index * (bar_height + gap)
        length = 0.0 if largest <= 0 else room * float(value) / largest
        colour = PALETTE[index % len(PALETTE)]
        parts.append(
            f'<text x="{label_width - 6}" y="{y + bar_height - 5}" text-anchor="end" fill="#1e2124">'
            f"{escape(label)}</text>"
        )
        parts.append(
            f'<rect x="{label_width}" y="{y}" width="{length:.1f}" height="{bar_height}" fill="{colour}" rx="2"/>'
        )
        parts.append(
            f'<text x="{label_width + length + 6:.1f}" y="{y + bar_height - 5}" fill="#1e2124">'
            f"{escape(_number(value))}{escape(unit)}</text>"
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped
