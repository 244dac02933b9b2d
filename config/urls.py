from django.contrib import admin
from django.urls import include, path

from config.api import api
from medbroker.calls.views.home import home

urlpatterns = [
    path("", home, name="home"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("medbroker.accounts.urls")),
    path("catalog/", include("medbroker.catalog.urls")),
    path("calls/", include("medbroker.calls.urls")),
    path("audit/", include("medbroker.audit.urls")),
    path("admin/", admin.site.urls),
    path("api/", api.urls),
]
