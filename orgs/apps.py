from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class OrgsConfig(AppConfig):
    name = "orgs"
    verbose_name = gettext_lazy("Organizations")
