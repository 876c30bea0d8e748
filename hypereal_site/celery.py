"""The Celery application. Tasks carry ids only and call services (docs/architecture.md)."""

import os

from celery import Celery

# Importing the ``hypereal_site`` package runs this module first, before wsgi.py: a
# default here decides what plain ``gunicorn hypereal_site.wsgi`` and ``celery -A
# hypereal_site worker`` run with, so it is production. manage.py and pytest set their
# own module before anything imports the package.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings.production")

app = Celery("hypereal")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
