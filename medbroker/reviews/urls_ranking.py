"""URLs of the ranking, the decisions and the exports (merged into the ``reviews`` namespace)."""

from django.urls import path

from medbroker.reviews import views_ranking

urlpatterns = [
    path("committees/<int:pk>/ranking/", views_ranking.ranking, name="ranking"),
    path(
        "committees/<int:pk>/decisions/<int:application_pk>/",
        views_ranking.decision_edit,
        name="decision_edit",
    ),
    path(
        "committees/<int:pk>/decisions/publish/",
        views_ranking.decisions_publish_view,
        name="decisions_publish",
    ),
    path("committees/<int:pk>/exports/score-sheets.xlsx", views_ranking.export_sheets, name="export_sheets"),
    path("committees/<int:pk>/exports/ranking.xlsx", views_ranking.export_ranking, name="export_ranking"),
    path("committees/<int:pk>/exports/minutes.pdf", views_ranking.minutes_pdf_view, name="minutes_pdf"),
]
