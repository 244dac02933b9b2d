"""URLs of the outcomes app (namespace ``outcomes``): the company's overview, results reports, dashboard."""

from django.urls import path

from medbroker.outcomes import views_dashboard, views_overview, views_reports

app_name = "outcomes"

urlpatterns = [
    path("", views_overview.company_overview_view, name="company_overview"),
    path("reports/", views_reports.report_list, name="report_list"),
    path("reports/open/<int:pk>/", views_reports.report_open_view, name="report_open"),
    path("reports/<int:pk>/", views_reports.report_detail, name="report_detail"),
    path("reports/<int:pk>/save/", views_reports.report_save, name="report_save"),
    path("reports/<int:pk>/outcome-row/", views_reports.report_outcome_row, name="report_outcome_row"),
    path("reports/<int:pk>/submit/", views_reports.report_submit_view, name="report_submit"),
    path("reports/<int:pk>/review/", views_reports.report_review_view, name="report_review"),
    path(
        "reports/<int:pk>/attachments/",
        views_reports.report_attachment_add_view,
        name="report_attachment_add",
    ),
    path(
        "reports/attachments/<int:pk>/",
        views_reports.report_attachment,
        name="report_attachment",
    ),
    path(
        "reports/attachments/<int:pk>/remove/",
        views_reports.report_attachment_remove_view,
        name="report_attachment_remove",
    ),
    path("reports/<int:pk>/pdf/", views_reports.report_pdf_view, name="report_pdf"),
    path("dashboard/", views_dashboard.dashboard, name="dashboard"),
    path("dashboard/export.xlsx", views_dashboard.dashboard_xlsx, name="dashboard_xlsx"),
    path("dashboard/export.pdf", views_dashboard.dashboard_pdf_view, name="dashboard_pdf"),
]
