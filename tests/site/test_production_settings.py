"""Production settings pass Django's deployment checklist and refuse to start without
their secrets. Each test starts a fresh process, as a deploy would."""

import os
import secrets
import string
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from hypereal_site.settings import base


def _manage(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        # Only what a deploy sets: nothing leaks in from the test run (DATABASE_URL, ...).
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/"), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits + string.punctuation.replace("$", "")
    return {
        "DJANGO_SETTINGS_MODULE": "hypereal_site.settings.production",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "ALLOWED_HOSTS": "console.example.com",
        "SITE_URL": "https://console.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        # Two keys, as during a rotation: the list form is what production parses.
        "FIELD_ENCRYPTION_KEYS": ",".join(Fernet.generate_key().decode() for _ in range(2)),
    }


def test_deploy_check_reports_no_issues(production_env):
    result = _manage(["check", "--deploy", "--fail-level", "WARNING"], production_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr
    assert "WARNING" not in result.stderr.upper(), result.stderr


@pytest.mark.parametrize(
    "missing", ["SECRET_KEY", "ALLOWED_HOSTS", "SITE_URL", "FIELD_ENCRYPTION_KEYS"]
)
def test_start_up_fails_naming_a_missing_variable(production_env, missing):
    del production_env[missing]
    result = _manage(["check"], production_env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert f"Set the {missing} environment variable" in result.stderr


@pytest.mark.parametrize(
    ("variable", "value", "complaint"),
    [
        ("SECRET_KEY", "too-short", "SECRET_KEY must be at least 50 characters"),
        ("SITE_URL", "http://console.example.com", "SITE_URL must be an https:// URL"),
        ("ALLOW_PRIVATE_OUTBOUND", "true", "ALLOW_PRIVATE_OUTBOUND is a development tool"),
        ("FIELD_ENCRYPTION_KEYS", "", "Set the FIELD_ENCRYPTION_KEYS environment variable"),
        (
            "FIELD_ENCRYPTION_KEYS",
            base.DEVELOPMENT_FIELD_ENCRYPTION_KEY,
            "FIELD_ENCRYPTION_KEYS holds the public development key",
        ),
        ("FIELD_ENCRYPTION_KEYS", "not-a-fernet-key", "key #1 is not a Fernet key"),
    ],
)
def test_start_up_fails_on_an_unsafe_value(production_env, variable, value, complaint):
    production_env[variable] = value
    result = _manage(["check"], production_env)
    assert result.returncode != 0
    assert complaint in result.stderr
