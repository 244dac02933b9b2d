from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CallsConfig(AppConfig):
    name = "medbroker.calls"
    verbose_name = _("공모·신청")
