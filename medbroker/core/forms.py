"""Form helpers: every widget gets the KRDS classes, so forms look the same everywhere."""

from __future__ import annotations

from typing import Any

from django import forms


class KrdsFormMixin:
    """Adds KRDS classes to the widgets of a Django form."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[call-arg]
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput | forms.CheckboxSelectMultiple | forms.RadioSelect):
                continue
            if isinstance(widget, forms.Select | forms.SelectMultiple):
                css = "krds-form-select"
            else:
                css = "krds-input"
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} {css}".strip()
