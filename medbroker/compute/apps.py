from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComputeConfig(AppConfig):
    name = "medbroker.compute"
    verbose_name = _("컴퓨팅 자원")
