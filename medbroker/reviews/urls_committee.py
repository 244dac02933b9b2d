"""The operator's committee pages (/reviews/committees/…) and the company's 기피 request."""

from django.urls import path

from medbroker.reviews import views_committee, views_conflicts

urlpatterns = [
    path("committees/", views_committee.committee_list, name="committee_list"),
    path("committees/new/", views_committee.committee_new, name="committee_new"),
    path("committees/<int:pk>/", views_committee.committee_detail, name="committee_detail"),
    path("committees/<int:pk>/settings/", views_committee.committee_settings, name="committee_settings"),
    path("committees/<int:pk>/members/add/", views_committee.member_add_view, name="member_add"),
    path(
        "committees/<int:pk>/members/<int:member_pk>/remove/",
        views_committee.member_remove_view,
        name="member_remove",
    ),
    path(
        "committees/<int:pk>/conflicts/detect/",
        views_committee.conflicts_detect_view,
        name="conflicts_detect",
    ),
    path(
        "committees/<int:pk>/conflicts/<int:conflict_pk>/decide/",
        views_committee.conflict_decide,
        name="conflict_decide",
    ),
    path(
        "committees/<int:pk>/assignments/generate/",
        views_committee.assignments_generate_view,
        name="assignments_generate",
    ),
    path("committees/<int:pk>/assignments/add/", views_committee.assignment_add_view, name="assignment_add"),
    path(
        "committees/<int:pk>/assignments/<int:assignment_pk>/remove/",
        views_committee.assignment_remove_view,
        name="assignment_remove",
    ),
    path(
        "committees/<int:pk>/sheets/<int:sheet_pk>/reopen/", views_committee.sheet_reopen, name="sheet_reopen"
    ),
    path("committees/<int:pk>/close/", views_committee.committee_close_view, name="committee_close"),
    path("applications/<int:pk>/challenge/", views_conflicts.challenge_new, name="challenge_new"),
]
