"""Gunicorn started as the README's production command starts it: every line it writes,
its own start-up and access lines included, is one JSON object."""

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (loopback)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


@contextlib.contextmanager
def gunicorn(tmp_path: Path):
    """Serve the console with the production settings and the gunicorn config; yields
    ``(base_url, logs)`` where ``logs`` is filled with (stdout, stderr) once it stopped."""
    port = _free_port()
    out, err = tmp_path / "stdout.log", tmp_path / "stderr.log"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(48),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": "https://console.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
        "SECURE_SSL_REDIRECT": "false",  # plain HTTP on loopback; no proxy in front
        # Production serves hashed static files from a manifest: collect them as a deploy does.
        "STATIC_ROOT": str(tmp_path / "static"),
    }
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "-v0"],
        cwd=settings.BASE_DIR,
        env={**env, "DJANGO_SETTINGS_MODULE": "hypereal_site.settings.production"},
        check=True,
    )
    argv = [
        str(Path(sys.executable).parent / "gunicorn"),
        "-c",
        "python:hypereal_site.gunicorn_conf",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        "1",
        "--no-control-socket",
        "hypereal_site.wsgi",
    ]
    logs: list[str] = []
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(  # noqa: S603 - fixed argv
            argv, cwd=settings.BASE_DIR, env=env, stdout=stdout, stderr=stderr
        )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):  # bounded: up to a minute on a loaded machine
            assert process.poll() is None, err.read_text()
            try:
                if _get(f"{base}/healthz") == 200:
                    break
            except OSError:
                time.sleep(0.2)
        else:
            pytest.fail("gunicorn did not answer /healthz:\n" + err.read_text())
        yield base, logs
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        logs.extend([out.read_text(), err.read_text()])


def test_every_line_gunicorn_writes_is_a_json_object(tmp_path):
    with gunicorn(tmp_path) as (base, logs):
        assert _get(f"{base}/healthz?token=do-not-log-me") == 200
        assert _get(f"{base}/no-such-page") == 404
    stdout, stderr = logs
    records = []
    for stream in (stdout, stderr):
        for line in stream.splitlines():
            record = json.loads(line)  # every line, or the test fails here naming it
            assert isinstance(record, dict), line
            assert {"ts", "level", "logger", "message"} <= set(record), line
            records.append(record)

    by_logger = {}
    for record in records:
        by_logger.setdefault(record["logger"], []).append(record)
    # Gunicorn's own lines: start-up on stderr, one access line per request on stdout.
    assert any(r["message"].startswith("Starting gunicorn") for r in by_logger["gunicorn.error"])
    access = [r for r in by_logger["gunicorn.access"] if r["path"] == "/healthz"]
    assert access and access[-1]["status"] == 200 and access[-1]["http_method"] == "GET"
    assert access[-1]["request_id"] not in {"-", None}
    [missing] = [r for r in by_logger["gunicorn.access"] if r["path"] == "/no-such-page"]
    assert missing["status"] == 404
    # ... and Django's, carrying the same request id as the access line.
    [not_found] = [r for r in by_logger["django.request"] if "no-such-page" in r["message"]]
    assert not_found["request_id"] == missing["request_id"]
    # The query string is not logged.
    assert "do-not-log-me" not in stdout + stderr
