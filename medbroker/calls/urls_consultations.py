"""Public call pages, the data-demand consultation and its console. Merged into the ``calls`` namespace."""

from __future__ import annotations

from django.urls import URLPattern, path, register_converter

from medbroker.calls.services.calls import RESERVED_CALL_SLUGS
from medbroker.calls.views import calls, consultations


class CallSlugConverter:
    """A call's slug, but not a word that names another page under /calls/.

    ``calls/urls.py`` lists these patterns before the applications' ones, so a bare ``<slug:slug>/`` would
    swallow ``/calls/applications/`` and ``/calls/console/``. ``call_configure`` refuses these slugs.
    """

    # Every use is followed by "/", so the look-ahead only has to rule out "<reserved>/".
    regex = rf"(?!(?:{'|'.join(RESERVED_CALL_SLUGS)})/)[-a-zA-Z0-9_]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(CallSlugConverter, "call_slug")

urlpatterns: list[URLPattern] = [
    path("", calls.call_list, name="call_list"),
    path("consultations/", consultations.consultation_list, name="consultation_list"),
    path("consultations/new/", consultations.consultation_new, name="consultation_new"),
    path("consultations/<int:pk>/", consultations.consultation_detail, name="consultation_detail"),
    path("consultations/<int:pk>/messages/", consultations.consultation_message, name="consultation_message"),
    path(
        "consultations/<int:pk>/items/<int:item_pk>/answer/",
        consultations.consultation_item_answer_view,
        name="consultation_item_answer",
    ),
    path("consultations/<int:pk>/close/", consultations.consultation_close_view, name="consultation_close"),
    path("console/consultations/", consultations.console_consultations, name="console_consultations"),
    path("<call_slug:slug>/", calls.call_detail, name="call_detail"),
    path(
        "<call_slug:slug>/documents/<slug:code>/template/",
        calls.document_template,
        name="document_template",
    ),
]
