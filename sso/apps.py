from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self) -> None:
        from orgs.signals import organization_closing  # noqa: PLC0415 - needs the app registry

        from . import receivers  # noqa: PLC0415 - needs the app registry (Django's ready())

        organization_closing.connect(
            receivers.close_sso_of_closing_organization,
            dispatch_uid="sso.organization_closing",
        )
