"""Template helpers for the shared UI pieces (sortable headers, pagination, Korean number formats)."""

from __future__ import annotations

from typing import Any

from django import template
from django.utils.html import format_html

from medbroker.core.tables import Table

register = template.Library()


@register.simple_tag
def sort_header(table: Table, column: str, label: str) -> str:
    state = table.sort_state(column)
    arrow = {"ascending": "▲", "descending": "▼"}.get(state, "↕")
    return format_html(
        '<th scope="col" aria-sort="{}"><a class="sort-link" href="{}">{} <span aria-hidden="true">{}</span></a></th>',
        state,
        table.sort_link(column),
        label,
        arrow,
    )


@register.filter
def intcomma_ko(value: Any) -> str:
    """1234567 → "1,234,567" (thousands separators as the call writes its counts)."""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return "" if value is None else str(value)


@register.filter
def get_item(mapping: Any, key: Any) -> Any:
    try:
        return mapping.get(key)
    except AttributeError:
        return None
