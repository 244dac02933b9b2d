from django.urls import path

from medbroker.evaluations.views import evaluations, runs, test_sets

app_name = "evaluations"

urlpatterns = [
    path("", evaluations.evaluation_list, name="evaluation_list"),
    path("new/", evaluations.evaluation_create_view, name="evaluation_create"),
    path("<int:pk>/", evaluations.evaluation_detail, name="evaluation_detail"),
    path("<int:pk>/plan/", evaluations.evaluation_plan_update_view, name="evaluation_plan_update"),
    path("<int:pk>/plan/lock/", evaluations.evaluation_plan_lock_view, name="evaluation_plan_lock"),
    path("<int:pk>/close/", evaluations.evaluation_close_view, name="evaluation_close"),
    path("<int:pk>/submissions/", evaluations.submission_create_view, name="submission_create"),
    path("submissions/<int:pk>/run/", evaluations.run_start_view, name="run_start"),
    path("test-sets/", test_sets.test_set_list, name="test_set_list"),
    path("test-sets/new/", test_sets.test_set_create_view, name="test_set_create"),
    path("test-sets/<int:pk>/", test_sets.test_set_detail, name="test_set_detail"),
    path("test-sets/<int:pk>/import/", test_sets.test_set_import_view, name="test_set_import"),
    path("test-sets/<int:pk>/activate/", test_sets.test_set_activate_view, name="test_set_activate"),
    path("test-sets/<int:pk>/retire/", test_sets.test_set_retire_view, name="test_set_retire"),
    path("runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("runs/<int:pk>/progress/", runs.run_progress, name="run_progress"),
    path("runs/<int:pk>/export.xlsx", runs.run_export_xlsx, name="run_export_xlsx"),
    path("runs/<int:pk>/reports/", runs.report_issue_view, name="report_issue"),
    path("reports/<int:pk>/download/", runs.report_download, name="report_download"),
    path("reports/verify/", runs.report_verify_view, name="report_verify"),
]
