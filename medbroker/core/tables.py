"""Sorting and paging of list pages, shared by every table in the UI.

A view names the columns a user may sort by (``?sort=title`` / ``?sort=-title``); anything else falls back
to the default, so a forged parameter never reaches ``order_by``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest


@dataclass(frozen=True)
class Table:
    page: Page
    sort: str
    query_without_sort: str
    query_without_page: str

    def sort_link(self, column: str) -> str:
        """The query string that sorts by ``column``, toggling the direction if it is the current one."""
        target = f"-{column}" if self.sort == column else column
        prefix = f"{self.query_without_sort}&" if self.query_without_sort else ""
        return f"?{prefix}sort={target}"

    def sort_state(self, column: str) -> str:
        if self.sort == column:
            return "ascending"
        if self.sort == f"-{column}":
            return "descending"
        return "none"

    def page_link(self, number: int) -> str:
        prefix = f"{self.query_without_page}&" if self.query_without_page else ""
        return f"?{prefix}page={number}"


def table_build(
    request: HttpRequest,
    queryset: QuerySet[Any] | list[Any],
    *,
    sortable: dict[str, str | tuple[str, ...]],
    default_sort: str,
    per_page: int = 20,
) -> Table:
    """Sort ``queryset`` by a whitelisted column from ``?sort=`` and return the requested page.

    ``sortable`` maps the public column name to the model field(s) it orders by.
    """
    requested = request.GET.get("sort", default_sort)
    column = requested.removeprefix("-")
    if column not in sortable:
        requested, column = default_sort, default_sort.removeprefix("-")
    descending = requested.startswith("-")
    fields = sortable[column]
    fields = (fields,) if isinstance(fields, str) else fields
    ordering = [f"-{f}" if descending else f for f in fields]
    if isinstance(queryset, QuerySet):
        queryset = queryset.order_by(*ordering, "pk")
    paginator = Paginator(queryset, per_page)
    page = paginator.get_page(request.GET.get("page"))
    params = [(k, v) for k, values in request.GET.lists() for v in values]
    return Table(
        page=page,
        sort=requested,
        query_without_sort=urlencode([(k, v) for k, v in params if k not in ("sort", "page")]),
        query_without_page=urlencode([(k, v) for k, v in params if k != "page"]),
    )
