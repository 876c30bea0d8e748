from django.apps import AppConfig
from django.utils.translation import gettext_lazy


class InfraConfig(AppConfig):
    name = "infra"
    verbose_name = gettext_lazy("GPU infrastructure")

    def ready(self) -> None:
        # The hold-expiry receiver (infra.jobs) and the beat tasks of GPU jobs.
        from . import job_tasks, jobs  # noqa: F401, PLC0415 - registered at start-up
