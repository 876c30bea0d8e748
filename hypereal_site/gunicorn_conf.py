"""Gunicorn's configuration: its own log lines are JSON objects, like Django's.

    gunicorn -c python:hypereal_site.gunicorn_conf hypereal_site.wsgi

Gunicorn's error log (start-up, workers booting and dying) and its access log go through
``hypereal_site.logging.JsonFormatter``, the formatter of every Django log line, so every
line the server writes is one JSON object. An access line carries the method, the path
(never the query string), the status, the size, the duration and the response's request id.
Bind address and worker count stay on the command line or in ``GUNICORN_CMD_ARGS``.
"""

import logging
import os

# Importing the ``hypereal_site`` package (as the formatter below does) reaches the Celery
# app, which would otherwise default the settings to development ones.
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hypereal_site.settings.production")

accesslog = "-"  # stdout
errorlog = "-"  # stderr
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# The path without its query string (where tokens and keys could ride).
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'


class AccessLogFields(logging.Filter):
    """Copies the parts of an access record into fields of the JSON object."""

    def filter(self, record: logging.LogRecord) -> bool:
        atoms = record.args  # gunicorn logs the access format with a dict of "atoms"
        if not isinstance(atoms, dict):
            return True
        status = str(atoms.get("s", ""))
        record.http_method = atoms.get("m")
        record.path = atoms.get("U")
        record.status = int(status) if status.isdigit() else status
        record.response_bytes = atoms.get("B")
        record.duration_ms = atoms.get("M")
        record.remote_addr = atoms.get("h")
        request_id = atoms["{x-request-id}o"]  # SafeAtoms answers "-" when absent
        if request_id and request_id != "-":
            record.request_id = request_id
        return True


_JSON = {"()": "hypereal_site.logging.JsonFormatter"}

logconfig_dict = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "hypereal_site.logging.RequestIdFilter"},
        "access_fields": {"()": "hypereal_site.gunicorn_conf.AccessLogFields"},
    },
    "formatters": {"json": _JSON},
    "handlers": {
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
            "stream": "ext://sys.stderr",
        },
        "access_console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["access_fields", "request_id"],
            "stream": "ext://sys.stdout",
        },
    },
    "root": {"level": "INFO", "handlers": ["error_console"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["error_console"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["access_console"], "propagate": False},
    },
}
