"""Start ``tests.apikeys.worker`` processes against the test's own database and cache.

Only PostgreSQL (a server every process can reach) with Redis (one cache for all) lets a
second process see what the test wrote; ``shared_backends()`` says whether this run has
them. On SQLite (an in-memory test database) and the local-memory cache the tests run the
same scenario inside the test process instead.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[2]


def shared_backends() -> bool:
    return connection.vendor == "postgresql" and settings.CACHES["default"]["BACKEND"].endswith(
        "RedisCache"
    )


def _database_url() -> str:
    db = connection.settings_dict
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    auth = f"{user}{password}@" if user else ""
    return f"postgres://{auth}{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


class Worker:
    """One worker process; ``ask(command)`` sends a line and returns the JSON answer."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        env = {**os.environ, **(env or {})}
        env["DATABASE_URL"] = _database_url()  # the test database, not the configured one
        env["DJANGO_SETTINGS_MODULE"] = "hypereal_site.settings.test"
        env["PYTHONPATH"] = str(ROOT)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.apikeys.worker"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def send(self, command) -> None:
        self.process.stdin.write(
            (command if isinstance(command, str) else json.dumps(command)) + "\n"
        )
        self.process.stdin.flush()

    def read(self) -> dict:
        line = self.process.stdout.readline()
        assert line, f"the worker died (exit code {self.process.poll()})"
        return json.loads(line)

    def ask(self, command: dict) -> dict:
        self.send(command)
        return self.read()

    def close(self) -> None:
        if self.process.stdin and not self.process.stdin.closed:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=60)
        finally:
            if self.process.poll() is None:
                self.process.kill()
            if self.process.stdout:
                self.process.stdout.close()
