"""Settings for the benchmark server only (``DJANGO_SETTINGS_MODULE=bench.bench_settings``).

Development settings made production-like where it changes the figures: DEBUG off (no
query log), persistent database connections as in production (``CONN_MAX_AGE=60``), logs
at WARNING (no per-request lines), and a URLconf that adds ``/bench/trivial`` — the
baseline endpoint, which therefore never ships in ``hypereal_site.urls``.
"""

from hypereal_site.settings.dev import *  # noqa: F403
from hypereal_site.settings.dev import LOGGING, MIDDLEWARE, env

DEBUG = False
ROOT_URLCONF = "bench.bench_urls"
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)  # noqa: F405
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True  # noqa: F405
# Which gunicorn worker answered (the revocation check must see every worker refuse).
MIDDLEWARE = ["bench.bench_urls.WorkerPidMiddleware", *MIDDLEWARE]
LOGGING["root"]["level"] = "WARNING"
for _logger in LOGGING["loggers"].values():
    _logger["level"] = "WARNING"
# As in production: static files are not re-scanned on every request.
WHITENOISE_AUTOREFRESH = False
