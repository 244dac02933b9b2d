"""URLs of the company's applications and of the operators' console (merged into the ``calls`` namespace)."""

from django.urls import path

from medbroker.calls.views import applications, console

urlpatterns = [
    path("applications/", applications.application_list, name="application_list"),
    path("applications/new/<slug:slug>/", applications.application_new, name="application_new"),
    path("applications/<int:pk>/", applications.application_detail, name="application_detail"),
    path("applications/<int:pk>/edit/", applications.application_edit, name="application_edit"),
    path(
        "applications/<int:pk>/edit/rows/<slug:prefix>/",
        applications.application_formset_row,
        name="application_formset_row",
    ),
    path("applications/<int:pk>/submit/", applications.application_submit_view, name="application_submit"),
    path(
        "applications/<int:pk>/resubmit/", applications.application_resubmit_view, name="application_resubmit"
    ),
    path(
        "applications/<int:pk>/withdraw/", applications.application_withdraw_view, name="application_withdraw"
    ),
    path(
        "applications/<int:pk>/documents/<slug:code>/upload/",
        applications.application_document_upload,
        name="application_document_upload",
    ),
    path(
        "applications/<int:pk>/documents/<int:document_pk>/download/",
        applications.application_document_download,
        name="application_document_download",
    ),
    path("applications/<int:pk>/receipt/", applications.application_receipt, name="application_receipt"),
    path(
        "applications/<int:pk>/receipt.pdf",
        applications.application_receipt_pdf,
        name="application_receipt_pdf",
    ),
    path("console/", console.console, name="console"),
    # Before "console/<slug>/", so that "applications" is never read as a call's identifier.
    path("console/applications/<int:pk>/", console.console_application, name="console_application"),
    path(
        "console/applications/<int:pk>/return/",
        console.console_application_return,
        name="console_application_return",
    ),
    path("console/<slug:slug>/", console.console_call, name="console_call"),
    path("console/<slug:slug>/export.xlsx", console.console_export, name="console_export"),
]
