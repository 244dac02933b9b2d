from django.urls import path

from medbroker.ingest import views

app_name = "ingest"

urlpatterns = [
    path("datasets/<int:pk>/", views.dataset_scan, name="dataset_scan"),
    path("datasets/<int:pk>/settings/", views.scan_profile_update, name="scan_profile_update"),
    path("datasets/<int:pk>/scans/", views.scan_start_view, name="scan_start"),
    path(
        "datasets/<int:pk>/deidentification/override/",
        views.deidentification_override_view,
        name="deidentification_override",
    ),
    path(
        "datasets/<int:pk>/deidentification.xlsx", views.deidentification_xlsx, name="deidentification_xlsx"
    ),
    path("scans/<int:pk>/progress/", views.scan_job_progress, name="scan_job_progress"),
]
