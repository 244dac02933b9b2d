from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CatalogConfig(AppConfig):
    name = "medbroker.catalog"
    verbose_name = _("데이터 카탈로그")
