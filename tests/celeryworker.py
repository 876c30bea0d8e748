"""A real ``celery -A hypereal_site worker`` process for a test (the one way the tests start
one: tests/site/test_real_parts.py, tests/webhooks/test_worker.py,
tests/infra/test_job_concurrency.py).

``celery_worker(settings_module=…, tmp_path=…)`` is a context manager: it skips the test when
the worker could not share this run's database and broker (it needs PostgreSQL, whose test
database another process can reach, and Redis as the broker), starts the worker on a queue
of its own (``TEST_CELERY_QUEUE`` in its environment; its settings module makes it the default
queue, so its embedded beat, with ``beat=True``, sends there too), points this process's
Celery app at that queue, and stops the worker afterwards. The worker inherits this process's
environment (the ``gpu_simulator`` fixture's settings, for one) plus ``env``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from hypereal_site.celery import app as celery_app

ROOT = Path(__file__).resolve().parents[1]


def backends_missing() -> str | None:
    """Why a worker process cannot share this run's database and broker, or None."""
    if connection.vendor != "postgresql":
        return "a worker process needs PostgreSQL (the SQLite test database is in memory)"
    if not settings.REDIS_URL:
        return "a worker process needs Redis as its broker (REDIS_URL is not set)"
    return None


def database_url() -> str:
    """The test database (not the configured one) as a URL for the worker."""
    db = connection.settings_dict
    auth = db.get("USER") or ""
    if auth and db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}" if auth else f"postgres://{host}/{db['NAME']}"


@dataclass
class Worker:
    process: subprocess.Popen
    log: Path
    queue: str

    def log_text(self) -> str:
        return self.log.read_text()

    def wait_for(self, check: Callable[[], object], *, seconds: float) -> None:
        """Wait (bounded) for ``check()`` to hold; fail with the worker's log otherwise,
        and at once if the worker died."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if check():
                return
            assert self.process.poll() is None, self.log_text()
            time.sleep(0.2)
        pytest.fail("the worker did not do it in time:\n" + self.log_text())


@contextlib.contextmanager
def celery_worker(
    *,
    settings_module: str,
    tmp_path: Path,
    beat: bool = False,
    env: dict[str, str] | None = None,
) -> Iterator[Worker]:
    reason = backends_missing()
    if reason:
        pytest.skip(reason)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    environment = {
        **os.environ,
        **(env or {}),
        "DJANGO_SETTINGS_MODULE": settings_module,
        "DATABASE_URL": database_url(),
        "TEST_CELERY_QUEUE": queue,
        "PYTHONPATH": str(ROOT),
    }
    command = [sys.executable, "-m", "celery", "-A", "hypereal_site", "worker"]
    if beat:
        command += ["--beat", "--schedule", str(tmp_path / "beat-schedule")]
    command += [
        "--pool",
        "solo",
        "--queues",
        queue,
        "--loglevel",
        "INFO",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    log = tmp_path / "worker.log"
    with log.open("w") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT
        )
    saved = {k: celery_app.conf[k] for k in ("task_always_eager", "task_default_queue")}
    celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
    try:
        yield Worker(process=process, log=log, queue=queue)
    finally:
        celery_app.conf.update(saved)
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
