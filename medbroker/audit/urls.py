from django.urls import path

from medbroker.audit import views

app_name = "audit"

urlpatterns = [
    path("", views.event_list, name="event_list"),
    path("export.xlsx", views.event_export_xlsx, name="event_export_xlsx"),
    path("export.csv", views.event_export_csv, name="event_export_csv"),
]
