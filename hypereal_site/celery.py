"""The Celery application. Tasks carry ids only and call services (docs/architecture.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings.dev")

app = Celery("hypereal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
