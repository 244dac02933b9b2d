"""The reviewer's pages (/reviews/my/…)."""

from django.urls import path

from medbroker.reviews import views_reviewer

urlpatterns = [
    path("my/", views_reviewer.reviewer_queue_view, name="reviewer_queue"),
    path("my/sheets/<int:assignment_pk>/", views_reviewer.score_sheet_view, name="score_sheet"),
    path(
        "my/sheets/<int:assignment_pk>/documents/<int:document_pk>/",
        views_reviewer.reviewer_document,
        name="reviewer_document",
    ),
    path("my/sheets/<int:assignment_pk>/recuse/", views_reviewer.recuse, name="recuse"),
]
