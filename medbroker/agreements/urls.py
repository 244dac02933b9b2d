"""URLs of the agreements app (namespace ``agreements``): agreements, their documents, performance tests."""

from django.urls import path

from medbroker.agreements import views_agreements, views_test_requests

app_name = "agreements"

urlpatterns = [
    path("", views_agreements.agreement_list, name="agreement_list"),
    path("queue/", views_agreements.decision_queue, name="decision_queue"),
    path("queue/<int:decision_pk>/create/", views_agreements.agreement_create, name="agreement_create"),
    path("<int:pk>/", views_agreements.agreement_detail, name="agreement_detail"),
    path("<int:pk>/amend/", views_agreements.agreement_amend_view, name="agreement_amend"),
    path("<int:pk>/terminate/", views_agreements.agreement_terminate_view, name="agreement_terminate"),
    path("versions/<int:version_pk>/sign/", views_agreements.agreement_sign_view, name="agreement_sign"),
    path(
        "versions/<int:version_pk>/cancel/",
        views_agreements.amendment_cancel_view,
        name="amendment_cancel",
    ),
    path(
        "versions/<int:version_pk>/document/", views_agreements.agreement_document, name="agreement_document"
    ),
    path("signatures/<int:signature_pk>/file/", views_agreements.signature_file, name="signature_file"),
    path("test-requests/", views_test_requests.test_request_list, name="test_request_list"),
    path("<int:pk>/test-requests/new/", views_test_requests.test_request_new, name="test_request_new"),
    path("test-requests/<int:pk>/", views_test_requests.test_request_detail, name="test_request_detail"),
    path(
        "test-requests/<int:pk>/decide/",
        views_test_requests.test_request_decide_view,
        name="test_request_decide",
    ),
    path(
        "test-requests/<int:pk>/withdraw/",
        views_test_requests.test_request_withdraw_view,
        name="test_request_withdraw",
    ),
]
