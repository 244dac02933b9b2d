from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AgreementsConfig(AppConfig):
    name = "medbroker.agreements"
    verbose_name = _("협약")
