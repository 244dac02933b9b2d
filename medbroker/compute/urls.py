"""URLs of the compute app (namespace ``compute``)."""

from django.urls import path

from medbroker.compute import views, views_workspaces

app_name = "compute"

urlpatterns = [
    path("", views.inventory, name="inventory"),
    path("agreements/<int:pk>/", views.agreement_compute, name="agreement_compute"),
    path("agreements/<int:pk>/allocate/", views.allocate, name="allocate"),
    path("agreements/<int:pk>/release/", views.release, name="release"),
    path("agreements/<int:pk>/offer/accept/", views.offer_accept, name="offer_accept"),
    path("agreements/<int:pk>/offer/decline/", views.offer_decline, name="offer_decline"),
    path("usage/import/", views.usage_import_view, name="usage_import"),
    path("workspace/", views_workspaces.workspace, name="workspace"),
    path("workspace/start/", views_workspaces.workspace_start_view, name="workspace_start"),
    path("workspaces/", views_workspaces.workspace_list, name="workspace_list"),
    path("workspaces/export.xlsx", views_workspaces.workspace_list_export, name="workspace_list_export"),
    path("workspaces/<int:pk>/status/", views_workspaces.workspace_status, name="workspace_status"),
    path("workspaces/<int:pk>/stop/", views_workspaces.workspace_stop_view, name="workspace_stop"),
]
