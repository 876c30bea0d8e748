from django.apps import AppConfig


class HyperealSiteConfig(AppConfig):
    name = "hypereal_site"
    verbose_name = "Hypereal site"
