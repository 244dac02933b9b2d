from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EvaluationsConfig(AppConfig):
    name = "medbroker.evaluations"
    verbose_name = _("성능시험")
