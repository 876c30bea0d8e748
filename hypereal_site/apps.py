from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class HyperealSiteConfig(AppConfig):
    name = "hypereal_site"
    verbose_name = gettext_lazy("Hypereal site")

    def ready(self) -> None:
        # Imported once the apps are loaded: DRF's serializers import models.
        from .api import strict  # noqa: PLC0415 - DRF's serializers import models

        strict.install()
