"""URLs of the compute app (namespace ``compute``)."""

from django.urls import path

from medbroker.compute import views

app_name = "compute"

urlpatterns = [
    path("", views.inventory, name="inventory"),
    path("agreements/<int:pk>/", views.agreement_compute, name="agreement_compute"),
    path("agreements/<int:pk>/allocate/", views.allocate, name="allocate"),
    path("agreements/<int:pk>/release/", views.release, name="release"),
    path("agreements/<int:pk>/offer/accept/", views.offer_accept, name="offer_accept"),
    path("agreements/<int:pk>/offer/decline/", views.offer_decline, name="offer_decline"),
    path("usage/import/", views.usage_import_view, name="usage_import"),
]
