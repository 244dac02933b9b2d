"""URLs of grants, online use and extra viewing requests (merged into the ``access`` namespace)."""

from django.urls import URLPattern, URLResolver, path

from medbroker.access import views_grants

urlpatterns: list[URLPattern | URLResolver] = [
    path("grants/", views_grants.grant_list, name="grant_list"),
    path("grants/agreements/<int:pk>/", views_grants.agreement_grants, name="agreement_grants"),
    path("grants/agreements/<int:pk>/issue/", views_grants.grants_issue_view, name="grants_issue"),
    path(
        "grants/agreements/<int:pk>/online-accounts/",
        views_grants.online_account_issue_view,
        name="online_account_issue",
    ),
    path(
        "grants/online-accounts/<int:pk>/revoke/",
        views_grants.online_account_revoke_view,
        name="online_account_revoke",
    ),
    path("grants/<int:pk>/revoke/", views_grants.grant_revoke_view, name="grant_revoke"),
    path("grants/<int:pk>/mode/", views_grants.grant_mode_view, name="grant_mode"),
    path("grants/<int:pk>/sessions/", views_grants.online_session_start_view, name="online_session_start"),
    path("grants/sessions/<int:pk>/end/", views_grants.online_session_end_view, name="online_session_end"),
    path("viewing/", views_grants.viewing_request_list, name="viewing_request_list"),
    path("viewing/new/", views_grants.viewing_request_new, name="viewing_request_new"),
    path("viewing/datasets/", views_grants.viewing_dataset_options, name="viewing_dataset_options"),
    path("viewing/<int:pk>/", views_grants.viewing_request_detail, name="viewing_request_detail"),
    path("viewing/<int:pk>/decide/", views_grants.viewing_request_decide_view, name="viewing_request_decide"),
]
