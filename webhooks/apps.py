from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = gettext_lazy("Webhooks")

    def ready(self) -> None:
        from apikeys.signals import key_disabled, key_spending_alert  # noqa: PLC0415 - app registry
        from billing.signals import balance_low  # noqa: PLC0415 - app registry
        from infra.signals import (  # noqa: PLC0415 - app registry
            deployment_status_changed,
            gpu_job_finished,
        )

        from . import receivers  # noqa: PLC0415 - needs the app registry (Django's ready())

        gpu_job_finished.connect(receivers.job_finished, dispatch_uid="webhooks.job_finished")
        deployment_status_changed.connect(
            receivers.deployment_status_changed, dispatch_uid="webhooks.deployment_status"
        )
        key_spending_alert.connect(
            receivers.key_spending_alert, dispatch_uid="webhooks.key_spending_alert"
        )
        key_disabled.connect(receivers.key_disabled, dispatch_uid="webhooks.key_disabled")
        balance_low.connect(receivers.balance_low, dispatch_uid="webhooks.balance_low")
