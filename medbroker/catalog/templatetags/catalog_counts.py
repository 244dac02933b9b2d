"""The case counts of a dataset in a list, as the person looking at the page may see them."""

from __future__ import annotations

from typing import Any

from django import template

from medbroker.catalog.models import Dataset
from medbroker.catalog.selectors import DatasetCounts, dataset_counts_view

register = template.Library()


@register.simple_tag(takes_context=True)
def dataset_counts(context: template.Context, dataset: Dataset) -> DatasetCounts:
    """``{% dataset_counts dataset as counts %}``: ``counts.annotated.display`` and so on."""
    request: Any = context.get("request")
    return dataset_counts_view(dataset=dataset, user=getattr(request, "user", None))
