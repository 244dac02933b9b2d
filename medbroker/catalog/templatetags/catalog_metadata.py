"""The dataset page's schema.org description, embedded for search engines and dataset crawlers."""

from __future__ import annotations

import json
from typing import Any

from django import template
from django.conf import settings
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

from medbroker.catalog.metadata import dataset_schema_org
from medbroker.catalog.models import Dataset

register = template.Library()

# Inside <script> the HTML parser ends the element at the first "</script", whatever the JSON means:
# "<", ">" and "&" are written as JSON escapes, so no title or description can close the element.
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026"}


@register.simple_tag(takes_context=True)
def dataset_jsonld_script(context: template.Context, dataset: Any) -> SafeString | str:
    if not isinstance(dataset, Dataset):
        return ""
    request = context.get("request")
    base_url = (
        request.build_absolute_uri("/")
        if request is not None
        else settings.MEDBROKER_SITE_URL.rstrip("/") + "/"
    )
    document = dataset_schema_org(dataset, base_url=base_url)
    text = json.dumps(document, ensure_ascii=False, separators=(",", ":")).translate(_SCRIPT_ESCAPES)
    return format_html('<script type="application/ld+json">{}</script>', mark_safe(text))  # noqa: S308
