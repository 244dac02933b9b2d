from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AccountsConfig(AppConfig):
    name = "medbroker.accounts"
    verbose_name = _("계정·기관")
