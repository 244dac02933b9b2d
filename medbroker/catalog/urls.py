from django.urls import path

from medbroker.catalog import views

app_name = "catalog"

urlpatterns = [
    path("", views.dataset_list, name="dataset_list"),
    path("mine/", views.steward_dataset_list, name="steward_dataset_list"),
    path("new/", views.dataset_new, name="dataset_new"),
    path("<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("<int:pk>/edit/", views.dataset_edit, name="dataset_edit"),
    path("<int:pk>/publish/", views.dataset_publish_view, name="dataset_publish"),
    path("<int:pk>/withdraw/", views.dataset_withdraw_view, name="dataset_withdraw"),
]
