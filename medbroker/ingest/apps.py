from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class IngestConfig(AppConfig):
    name = "medbroker.ingest"
    verbose_name = _("데이터 수집·점검")
