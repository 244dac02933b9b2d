from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReviewsConfig(AppConfig):
    name = "medbroker.reviews"
    verbose_name = _("선정 평가")
