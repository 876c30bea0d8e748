"""Production settings, loaded in a fresh process as a deploy would: the probes answer on
plain HTTP although every other page redirects to HTTPS, and the local checkout (a
development stand-in for Stripe) can be neither turned on nor reached."""

import json
import os
import secrets
import string
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

# Run inside the production process: requests over plain HTTP through Django's test client
# (the whole middleware stack, SecurityMiddleware's redirect included).
PROBE = r"""
import json, django
django.setup()
from django.conf import settings
from django.core.management import call_command
from django.test import Client
from billing import local_checkout, stripe_gateway

call_command("migrate", verbosity=0, interactive=False)
# No collectstatic here: pages are rendered with plain static URLs instead of the manifest.
from django.test import override_settings
override_settings(STORAGES={**settings.STORAGES, "staticfiles": {
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}).enable()
from tests.accounts.factories import UserFactory
user = UserFactory()
client = Client(HTTP_HOST="console.example.com")
out = {"ssl_redirect": settings.SECURE_SSL_REDIRECT, "debug": settings.DEBUG,
       "local_checkout_setting": settings.LOCAL_CHECKOUT,
       "local_checkout_enabled": local_checkout.enabled(),
       "topups_configured": stripe_gateway.is_configured()}
for path in ("/healthz", "/readyz", "/accounts/login/"):
    r = client.get(path)
    out[path] = [r.status_code, r.get("Location", "")]
client.force_login(user)
r = client.get("/billing/checkout/cs_local_" + "0" * 32, secure=True)
out["checkout"] = r.status_code
r = client.post("/billing/topup", {"preset_usd": "25"}, secure=True)
out["topup"] = r.status_code
print(json.dumps(out))
"""


def _run(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(  # noqa: S603 - fixed argv, our own interpreter
        [sys.executable, "-c", PROBE],
        cwd=settings.BASE_DIR,
        env={
            "PATH": os.environ.get("PATH", ""),
            "HOME": os.environ.get("HOME", "/"),
            "PYTHONPATH": str(settings.BASE_DIR),
            **env,
        },
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


@pytest.fixture
def production_env(tmp_path) -> dict[str, str]:
    alphabet = string.ascii_letters + string.digits
    return {
        "DJANGO_SETTINGS_MODULE": "hypereal_site.settings.production",
        "SECRET_KEY": "".join(secrets.choice(alphabet) for _ in range(60)),
        "ALLOWED_HOSTS": "console.example.com",
        "SITE_URL": "https://console.example.com",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'production.sqlite3'}",
        "LOG_LEVEL": "ERROR",
        "FIELD_ENCRYPTION_KEYS": Fernet.generate_key().decode(),
    }


def test_probes_answer_plain_http_while_pages_redirect(production_env):
    result = _run(production_env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["ssl_redirect"] is True and out["debug"] is False
    assert out["/healthz"] == [200, ""]
    assert out["/readyz"] == [200, ""]
    assert out["/accounts/login/"] == [301, "https://console.example.com/accounts/login/"]


def test_the_local_checkout_is_off_and_unreachable(production_env):
    """Even with DEBUG set in the environment and no Stripe keys: production pins DEBUG
    off, the checkout URL is a 404 and a top-up is refused rather than sent there."""
    production_env["DEBUG"] = "true"
    result = _run(production_env)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["local_checkout_setting"] is False
    assert out["local_checkout_enabled"] is False
    assert out["topups_configured"] is False
    assert out["checkout"] == 404
    assert out["topup"] == 400


def test_turning_the_local_checkout_on_stops_start_up(production_env):
    production_env["LOCAL_CHECKOUT"] = "true"
    result = _run(production_env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "LOCAL_CHECKOUT is a development tool" in result.stderr
