"""Capture log lines exactly as production writes them: through ``JsonFormatter`` and
``RequestIdFilter``, then parsed back with ``json.loads`` so a test sees what a log
shipper would see."""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from hypereal_site.logging import JsonFormatter, RequestIdFilter


class JsonLinesHandler(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.addFilter(RequestIdFilter())
        self.lines: list[dict] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(json.loads(self.format(record)))


@contextmanager
def capture_json_logs() -> Iterator[list[dict]]:
    """Yields the parsed JSON lines logged while the block runs.

    ``django``, ``django.server`` and ``celery`` do not propagate (see LOGGING), so the
    handler is attached to the root and to every logger that stops propagation; every
    record therefore reaches it exactly once.
    """
    handler = JsonLinesHandler()
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.root.manager.loggerDict.values()
        if isinstance(logger, logging.Logger) and not logger.propagate
    ]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        yield handler.lines
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
