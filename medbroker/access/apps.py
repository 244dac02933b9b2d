from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccessConfig(AppConfig):
    name = "medbroker.access"
    verbose_name = _("데이터 이용")
