"""URLs of the company's review results (merged into the ``reviews`` namespace)."""

from django.urls import path

from medbroker.reviews import views_results

urlpatterns = [
    path("results/", views_results.company_results, name="company_results"),
    path("results/<int:pk>/", views_results.company_result, name="company_result"),
]
