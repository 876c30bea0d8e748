from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class UsageConfig(AppConfig):
    name = "usage"
    verbose_name = gettext_lazy("Usage")
