from django.urls import path

from medbroker.catalog import views, views_metadata

app_name = "catalog"

urlpatterns = [
    path("", views.dataset_list, name="dataset_list"),
    path("mine/", views.steward_dataset_list, name="steward_dataset_list"),
    path("new/", views.dataset_new, name="dataset_new"),
    path("<int:pk>/", views.dataset_detail, name="dataset_detail"),
    path("<int:pk>/edit/", views.dataset_edit, name="dataset_edit"),
    path("<int:pk>/publish/", views.dataset_publish_view, name="dataset_publish"),
    path("<int:pk>/withdraw/", views.dataset_withdraw_view, name="dataset_withdraw"),
    path("<int:pk>/dcat.ttl", views_metadata.dataset_dcat_turtle, name="dataset_dcat_turtle"),
    path("<int:pk>/dcat.jsonld", views_metadata.dataset_dcat_jsonld, name="dataset_dcat_jsonld"),
    path("<int:pk>/croissant.json", views_metadata.dataset_croissant_json, name="dataset_croissant"),
]
