"""Settings of the Celery worker + beat that tests/webhooks/test_worker.py starts (through
tests/celeryworker.py): the test settings with tasks really queued (on the test's own
queue), loopback receivers allowed, and only the webhook beat entries, sweeping every
second."""

from hypereal_site.settings.test import *  # noqa: F403
from hypereal_site.settings.test import env

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env("TEST_CELERY_QUEUE")
ALLOW_PRIVATE_OUTBOUND = True
WEBHOOK_SWEEP_SECONDS = 1.0
CELERY_BEAT_SCHEDULE = {
    "webhooks-sweep-outbox": {"task": "webhooks.tasks.sweep_outbox", "schedule": 1.0},
}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
