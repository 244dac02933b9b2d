"""Bonus preview and evidence verification (merged into the ``reviews`` namespace)."""

from django.urls import path

from medbroker.reviews import views_bonus

urlpatterns = [
    path("applications/<int:pk>/bonus/", views_bonus.bonus_preview, name="bonus_preview"),
    path("applications/<int:pk>/evidence/", views_bonus.evidence_review, name="evidence_review"),
    path("applications/<int:pk>/evidence/verify/", views_bonus.evidence_verify_view, name="evidence_verify"),
]
