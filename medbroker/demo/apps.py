from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DemoConfig(AppConfig):
    """The demo loader: the one place that calls every app's demo data, in the order of the process."""

    name = "medbroker.demo"
    verbose_name = _("데모")
