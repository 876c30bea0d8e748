"""Settings of the Celery worker that tests/site/test_real_parts.py starts (through
tests/celeryworker.py): the test settings, with tasks really queued on the test's own queue
and emails really sent over SMTP to the test's server."""

from hypereal_site.settings.test import *  # noqa: F403
from hypereal_site.settings.test import env

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env("TEST_CELERY_QUEUE")
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = "127.0.0.1"
EMAIL_PORT = env.int("TEST_SMTP_PORT")
EMAIL_HOST_USER = ""
EMAIL_HOST_PASSWORD = ""
EMAIL_USE_TLS = False
EMAIL_USE_SSL = False
EMAIL_TIMEOUT = 10
