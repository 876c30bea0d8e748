"""Production: no defaults for secrets, HTTPS everywhere.

Start-up fails with a clear message when a required variable is missing
(``django.core.exceptions.ImproperlyConfigured: Set the SECRET_KEY environment variable``).
"""

from django.core.exceptions import ImproperlyConfigured

from hypereal_site.crypto import parse_keys

from .base import *  # noqa: F403
from .base import DEVELOPMENT_FIELD_ENCRYPTION_KEY, RUNPOD_API_URL, RUNPOD_REST_URL, env

DEBUG = False
SECRET_KEY = env("SECRET_KEY")  # no default: a missing secret stops start-up
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")
SITE_URL = env("SITE_URL").rstrip("/")
if not SITE_URL.startswith("https://") and not env.bool("ALLOW_INSECURE_SITE_URL", default=False):
    raise ImproperlyConfigured("SITE_URL must be an https:// URL in production.")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("SECRET_KEY must be at least 50 characters long.")
# The local checkout grants credits without a payment: never in production.
if env.bool("LOCAL_CHECKOUT", default=False):
    raise ImproperlyConfigured("LOCAL_CHECKOUT is a development tool; it cannot be turned on here.")
LOCAL_CHECKOUT = False
# Outbound fetches (hypereal_site/outbound.py) reach public https:// addresses only.
if env.bool("ALLOW_PRIVATE_OUTBOUND", default=False):
    raise ImproperlyConfigured(
        "ALLOW_PRIVATE_OUTBOUND is a development tool; it cannot be turned on here."
    )
ALLOW_PRIVATE_OUTBOUND = False
# Encrypted secrets: no development default, no malformed key, never the public dev key.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS")
if not FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured("Set the FIELD_ENCRYPTION_KEYS environment variable")
if DEVELOPMENT_FIELD_ENCRYPTION_KEY in FIELD_ENCRYPTION_KEYS:
    raise ImproperlyConfigured(
        "FIELD_ENCRYPTION_KEYS holds the public development key; generate a key of your own."
    )
parse_keys(FIELD_ENCRYPTION_KEYS)  # ImproperlyConfigured names a malformed key
# GPU deployments run on RunPod (docs/gpu_provider.md). They are on when RUNPOD_API_KEY is set
# (or GPU_ENABLED=true, which then requires the key); the simulator is a development tool.
GPU_PROVIDER = env("GPU_PROVIDER", default="runpod")
if GPU_PROVIDER != "runpod":
    raise ImproperlyConfigured("GPU_PROVIDER must be runpod in production.")
RUNPOD_API_KEY = env("RUNPOD_API_KEY", default="")
GPU_ENABLED = env.bool("GPU_ENABLED", default=bool(RUNPOD_API_KEY))
if GPU_ENABLED and not RUNPOD_API_KEY:
    raise ImproperlyConfigured(
        "Set the RUNPOD_API_KEY environment variable (GPU_ENABLED is on), "
        "or set GPU_ENABLED=false to run without GPU deployments."
    )
for _runpod_url in (RUNPOD_API_URL, RUNPOD_REST_URL):
    if not _runpod_url.startswith("https://"):
        raise ImproperlyConfigured("RUNPOD_API_URL and RUNPOD_REST_URL must be https:// URLs.")

# Behind a TLS-terminating proxy that sets X-Forwarded-Proto, set SECURE_PROXY_SSL_HEADER.
if env.bool("USE_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
# Probes speak plain HTTP to the pod or host directly: /healthz and /readyz answer them
# instead of redirecting (Django matches these against the path without its leading "/").
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
LANGUAGE_COOKIE_SECURE = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https"
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = False
CONN_HEALTH_CHECKS = True
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
