"""Test settings: fast hashing, locmem email, eager Celery unless a test starts a worker."""

from .base import *  # noqa: F403
from .base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=True)
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
# Each test run gets its own cache namespace so parallel runs on one Redis never collide.
CACHES["default"]["KEY_PREFIX"] = env("CACHE_KEY_PREFIX", default="hypereal-test")  # noqa: F405
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
LOGGING["root"]["level"] = "WARNING"  # noqa: F405
LOGGING["loggers"]["django"]["level"] = "WARNING"  # noqa: F405
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tests that revoke a key and verify again at once, across processes, see the shared cache
# directly; the per-worker copies have tests of their own that turn them on.
VERIFY_LOCAL_CACHE_SECONDS = 0
# Tests count reservations one call at a time; the lease tests (and the bursts, which run
# with and without) turn leases on themselves.
RESERVATION_LEASE_CALLS = env.int("RESERVATION_LEASE_CALLS", default=1)
# Tests never ask the network's DNS: a test that verifies a domain starts its own server on
# loopback (tests/sso/dnsserver.py) and points DNS_RESOLVER at it; anything else is refused
# at once by the discard port.
DNS_RESOLVER = env("DNS_RESOLVER", default="127.0.0.1:9")
DNS_TIMEOUT_SECONDS = 0.2
# Tests never reach RunPod: a test that needs the provider starts the simulator (the
# `gpu_simulator` fixture, tests/gpusim.py), which points these at it; anything else
# is refused at once by the discard port.
RUNPOD_API_KEY = env("RUNPOD_API_KEY", default="simulator")
RUNPOD_API_URL = env("RUNPOD_API_URL", default="http://127.0.0.1:9/v2")
RUNPOD_REST_URL = env("RUNPOD_REST_URL", default="http://127.0.0.1:9/v1")
RUNPOD_CONNECT_TIMEOUT_SECONDS = 2.0
RUNPOD_READ_TIMEOUT_SECONDS = 5.0
