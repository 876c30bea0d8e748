"""Settings shared by every environment.

Every deploy-time value is read from the environment through one ``environ.Env``; the
defaults here are the development defaults (SQLite, local-memory cache, eager Celery,
console email). ``production.py`` removes the defaults for secrets.
"""

import base64
import hashlib
from pathlib import Path

import environ
from csp.constants import NONE, SELF, UNSAFE_INLINE

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)
SECRET_KEY = env("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# The canonical public base URL. Links in emails and SSO endpoints are built from it,
# never from the request's Host header (which a client controls).
SITE_URL = env("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# hypereal_site/outbound.py (every fetch from the internet) refuses http:// and any address
# that is not public. On, it lets development reach an IdP on loopback or a private network
# over http; production.py refuses it.
ALLOW_PRIVATE_OUTBOUND = env.bool("ALLOW_PRIVATE_OUTBOUND", default=False)
SITE_NAME = env("SITE_NAME", default="Hypereal Console")

# Secrets stored encrypted (hypereal_site/crypto.py): a comma-separated list of Fernet keys,
# the first one encrypts, every one decrypts; `manage.py rotate_field_keys` re-encrypts with
# the first. This default is a fixed development key, public by design: production.py
# refuses to start without the variable and refuses this key.
DEVELOPMENT_FIELD_ENCRYPTION_KEY = "aHlwZXJlYWwtZGV2ZWxvcG1lbnQtb25seS1maWVsZCE="
FIELD_ENCRYPTION_KEYS = env.list(
    "FIELD_ENCRYPTION_KEYS", default=[DEVELOPMENT_FIELD_ENCRYPTION_KEY]
)

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "template_partials",
    "allauth",
    "allauth.account",
    "allauth.mfa",
    "allauth.usersessions",
    "hypereal_site",
    "accounts",
    "orgs",
    "apikeys",
    "billing",
    "usage",
    "infra",
    "webhooks",
    "sso",
]

MIDDLEWARE = [
    "hypereal_site.middleware.RequestIdMiddleware",
    "hypereal_site.middleware.HeaderSanitizingMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After the session and the user: the account's saved language beats LocaleMiddleware's.
    "accounts.middleware.UserLanguageMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "allauth.usersessions.middleware.UserSessionsMiddleware",
    "orgs.audit.AuditOriginMiddleware",
    "hypereal_site.error_pages.ErrorPageMiddleware",
    # Last, so that its 404 and 400 pages render with the session, user and context.
    "hypereal_site.middleware.HostileInputMiddleware",
]

ROOT_URLCONF = "hypereal_site.urls"
WSGI_APPLICATION = "hypereal_site.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "hypereal_site.context_processors.console",
                "orgs.context_processors.console_context",
                "hypereal_site.navigation.console_nav",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
DATABASES["default"]["ATOMIC_REQUESTS"] = False  # conflicts with durable money services
DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=0))
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server and an eager task share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "init_command": "PRAGMA journal_mode=WAL;"}
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache and Celery -----------------------------------------------------------------
REDIS_URL = env("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="hypereal"),
            # A cache that stops answering must fail fast, not hang every request.
            "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL or "memory://")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=not REDIS_URL)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE: dict = {}

# --- Auth -----------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {
        "NAME": "django.contrib.auth.password_validation.MinimumLengthValidator",
        "OPTIONS": {"min_length": 10},
    },
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "dashboard"

# django-allauth: email is the identity, verification is mandatory.
ACCOUNT_ADAPTER = "accounts.adapter.AccountAdapter"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = "mandatory"
ACCOUNT_EMAIL_CONFIRMATION_EXPIRE_DAYS = 3
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = False
ACCOUNT_CHANGE_EMAIL = True
ACCOUNT_MAX_EMAIL_ADDRESSES = 2
ACCOUNT_SESSION_REMEMBER = None
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_PASSWORD_RESET_BY_CODE_ENABLED = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = "[Hypereal] "
# Tell people by email when their password, email or second factors change.
ACCOUNT_EMAIL_NOTIFICATIONS = True
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https://") else "http"
ACCOUNT_PREVENT_ENUMERATION = True
# SSO enforcement refuses a new password for bound members (docs/sso.md).
ACCOUNT_FORMS = {"reset_password_from_key": "accounts.forms.ResetPasswordKeyForm"}
# Tuned limits (allauth's format: "<n>/<period>/<key>"): five failed logins per account
# per five minutes lock out password guessing; resets are limited per address and per IP.
ACCOUNT_RATE_LIMITS = {
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "signup": "20/m/ip",
    "confirm_email": "1/3m/key",
    "reset_password": "20/m/ip,5/h/key",
    "reset_password_from_key": "20/m/ip",
    "change_password": "5/m/user",
    "manage_email": "10/m/user",
    "reauthenticate": "10/m/user",
    "mfa_authenticate": "10/m/ip,5/5m/user",
}
MFA_SUPPORTED_TYPES = ["totp", "recovery_codes", "webauthn"]
MFA_PASSKEY_LOGIN_ENABLED = True
MFA_TOTP_ISSUER = SITE_NAME
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = env.bool("MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN", default=DEBUG)
USERSESSIONS_TRACK_ACTIVITY = True

# --- Email ----------------------------------------------------------------------------
vars().update(env.email_url("EMAIL_URL", default="consolemail://"))
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="Hypereal Console <noreply@hypereal.local>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- REST framework -------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["hypereal_site.api.authentication.SessionAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["hypereal_site.api.jsonbody.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "hypereal_site.api.errors.exception_handler",
    "DEFAULT_THROTTLE_CLASSES": [
        "rest_framework.throttling.AnonRateThrottle",
        "rest_framework.throttling.UserRateThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "anon": env("API_THROTTLE_ANON", default="120/min"),
        "user": env("API_THROTTLE_USER", default="1200/min"),
    },
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Hypereal Console API",
    "DESCRIPTION": (
        "Browser API of the Hypereal Console (session cookie auth). Every error is "
        '`{"error": {"type": ..., "message": ...}}`. Browser APIs refuse unknown body '
        "fields (400 `validation_error` naming them); bodies above an endpoint's limit are "
        "413 `request_too_large`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/(api|internal|v1)/",
}

# --- I18n, time, static ---------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("ar", "العربية")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# The header's language switcher remembers an anonymous visitor's choice for a year.
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
LANGUAGE_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(env("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}

# --- Request bodies -------------------------------------------------------------------
# The largest body each endpoint accepts (first matching path prefix wins); anything larger
# is a 413 before it is read (hypereal_site.middleware.HostileInputMiddleware). A full
# usage batch (USAGE_BATCH_MAX events, every text field at its maximum length, all of it
# \u-escaped) is under 3 MiB.
REQUEST_BODY_LIMITS = [
    ("/internal/v1/usage", 4 * 1024 * 1024),
    ("/internal/gpu/callback/", 2 * 1024 * 1024),
    ("/internal/", 256 * 1024),
    ("/billing/stripe/webhook", 512 * 1024),
    ("/api/", 256 * 1024),
    ("/v1/deployments", 128 * 1024),  # environment variables: up to 16 KB of them
    ("/v1/gpu/", 1024 * 1024),  # GPU job inputs (a ComfyUI workflow is large JSON)
    ("/v1/", 64 * 1024),
]
REQUEST_BODY_LIMIT_DEFAULT = 1024 * 1024  # pages: forms, never files
# Django's own ceiling must not refuse (with a 400) what an endpoint allows.
DATA_UPLOAD_MAX_MEMORY_SIZE = max(
    REQUEST_BODY_LIMIT_DEFAULT, *(limit for _prefix, limit in REQUEST_BODY_LIMITS)
)

# --- Security -------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"


# --- Content-Security-Policy (django-csp) ------------------------------------------------
# Scripts only from our own static files: htmx through django-htmx's {% htmx_script %},
# static/js/console.js for the few behaviours templates need (no on…= attributes, no
# hx-on, which htmx evaluates as code). Styles from our stylesheet, plus the one <style>
# htmx inserts for its request indicators, allowed by its hash (a test in the browser
# suite fails if an htmx upgrade changes it). style="…" attributes stay allowed
# (style-src-attr): they set a meter's width and cannot run code.
def csp_hash(source: str) -> str:
    """A CSP hash-source allowing exactly this inline text."""
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


HTMX_INDICATOR_STYLE = (
    ".htmx-indicator{opacity:0;visibility: hidden} "
    ".htmx-request .htmx-indicator, .htmx-request.htmx-indicator"
    "{opacity:1;visibility: visible;transition: opacity 200ms ease-in}"
)
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, csp_hash(HTMX_INDICATOR_STYLE)],
        "style-src-attr": [UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        # A top-up form's answer redirects to Stripe Checkout, which form-action governs.
        "form-action": [SELF, "https://checkout.stripe.com"],
        "frame-ancestors": [NONE],
    },
}

# --- Logging: one JSON object per line, each carrying the request id ------------------
LOG_LEVEL = env("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "hypereal_site.logging.RequestIdFilter"}},
    "formatters": {"json": {"()": "hypereal_site.logging.JsonFormatter"}},
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "django.server": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        "celery": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
    },
}
CSRF_FAILURE_VIEW = "hypereal_site.api.views.csrf_failure"

# --- Billing --------------------------------------------------------------------------
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY", default="")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET", default="")
TOPUP_MIN_USD = 2
# The local checkout (billing/local_checkout.py) stands in for Stripe Checkout in
# development: with DEBUG on and no STRIPE_SECRET_KEY, "Continue to payment" opens a local
# payment page whose "Pay" signs a checkout.session.completed event with this secret and
# hands it to the real webhook handler. dev.py turns it on; production.py refuses it.
LOCAL_CHECKOUT = False
LOCAL_CHECKOUT_WEBHOOK_SECRET = "whsec_local_checkout_development_only"  # noqa: S105 (public by design)
TOPUP_MAX_USD = env.int("TOPUP_MAX_USD", default=10_000)
CELERY_BEAT_SCHEDULE["expire-holds"] = {"task": "billing.tasks.expire_holds", "schedule": 60.0}
CELERY_BEAT_SCHEDULE["expire-reservations"] = {
    "task": "apikeys.tasks.expire_reservations",
    "schedule": 30.0,
}
CELERY_BEAT_SCHEDULE["reconcile-reservations"] = {
    "task": "apikeys.tasks.reconcile_reservations",
    "schedule": 300.0,
}

# --- GPU deployments (docs/gpu_deployments.md) ---------------------------------------------
# Workers a deployment may ask for, and how long it may stay "deploying" before "failed".
GPU_MAX_WORKERS = env.int("GPU_MAX_WORKERS", default=20)
GPU_DEPLOY_TIMEOUT_SECONDS = env.int("GPU_DEPLOY_TIMEOUT_SECONDS", default=900)
CELERY_BEAT_SCHEDULE["refresh-deployments"] = {
    "task": "infra.tasks.refresh_deployments",
    "schedule": 15.0,
}

# --- Single sign-on (docs/sso.md) ---------------------------------------------------------
# The DNS server that answers domain verification look-ups, "ip:port" ("" = the system's).
DNS_RESOLVER = env("DNS_RESOLVER", default="")
DNS_TIMEOUT_SECONDS = env.float("DNS_TIMEOUT_SECONDS", default=5.0)
# A verified domain whose TXT record has gone stays verified this long (its owners are
# emailed at the start), then is unverified if the record is still missing.
SSO_DOMAIN_GRACE_DAYS = env.int("SSO_DOMAIN_GRACE_DAYS", default=7)
CELERY_BEAT_SCHEDULE["sso-recheck-domains"] = {
    "task": "sso.tasks.recheck_domains",
    "schedule": 3600.0,  # hourly sweep; each domain is re-checked once a day
}
CELERY_BEAT_SCHEDULE["sso-prune-signin-records"] = {
    "task": "sso.tasks.prune_signin_records",
    "schedule": 900.0,  # replay ids past their NotOnOrAfter, attempts a day past expiry
}

# --- Keys and the inference plane -------------------------------------------------------
# How long a verification answer stays in the shared cache (changes that matter delete it).
VERIFY_CACHE_SECONDS = env.int("VERIFY_CACHE_SECONDS", default=60)
# How long each console worker reuses what it read from the shared cache (0 turns it off);
# with the on-commit delete it bounds how long a revoked key can still pass (< 1 s).
VERIFY_LOCAL_CACHE_SECONDS = env.float("VERIFY_LOCAL_CACHE_SECONDS", default=0.5)
# Reservations (docs/inference-plane.md, "Reservations"): an unreported one is released
# after this long; without an estimate verify reserves these defaults per endpoint family.
RESERVATION_TTL_SECONDS = env.int("RESERVATION_TTL_SECONDS", default=600)
RESERVATION_DEFAULT_INPUT_TOKENS = env.int("RESERVATION_DEFAULT_INPUT_TOKENS", default=4096)
RESERVATION_DEFAULT_OUTPUT_TOKENS = env.int("RESERVATION_DEFAULT_OUTPUT_TOKENS", default=4096)
# A verification naming no model (no price to reserve from) reserves this much.
RESERVATION_DEFAULT_MICROCREDITS = env.int("RESERVATION_DEFAULT_MICROCREDITS", default=0)
# Per-worker leases (docs/inference-plane.md, "Leases"): one reservation script reserves
# up to this many calls of the same shape (never more than half of what still fits) and
# the worker hands them out without a round trip for this long, then releases the rest.
# 1 turns leases off.
RESERVATION_LEASE_CALLS = env.int("RESERVATION_LEASE_CALLS", default=16)
RESERVATION_LEASE_SECONDS = env.float("RESERVATION_LEASE_SECONDS", default=1.0)
# How long the gateway may reuse an answer locally (returned as cache_ttl_seconds).
VERIFY_GATEWAY_CACHE_SECONDS = env.int("VERIFY_GATEWAY_CACHE_SECONDS", default=1)
RATE_LIMIT_DEFAULT = {
    "requests_per_minute": env.int("RATE_LIMIT_RPM", default=600),
    "tokens_per_minute": env.int("RATE_LIMIT_TPM", default=2_000_000),
}
USAGE_BATCH_MAX = 1000
# Events stamped further in the future than this are refused (clock skew allowance).
USAGE_MAX_FUTURE_SECONDS = 300
# Usage storage (docs/architecture.md "Usage storage"). On PostgreSQL usage events live in
# monthly partitions, created this many months ahead by the daily beat task (ingestion
# creates a missing one on demand). A month is dropped whole once all of it is older than
# USAGE_RETENTION_DAYS (on SQLite its rows are deleted); it must exceed ingestion's 90 days.
USAGE_PARTITIONS_AHEAD_MONTHS = 3
USAGE_RETENTION_DAYS = env.int("USAGE_RETENTION_DAYS", default=400)
CELERY_BEAT_SCHEDULE["usage-partitions-ensure"] = {
    "task": "usage.tasks.ensure_usage_partitions",
    "schedule": 24 * 3600.0,
}
CELERY_BEAT_SCHEDULE["usage-retention"] = {
    "task": "usage.tasks.apply_usage_retention",
    "schedule": 24 * 3600.0,
}
CELERY_BEAT_SCHEDULE["usage-requests-prune"] = {
    "task": "usage.tasks.prune_usage_requests",
    "schedule": 3600.0,
}

# --- Usage rollups (usage/rollups.py; docs/architecture.md, "Usage rollups") ------------------
# The beat task moves the watermark every USAGE_ROLLUP_INTERVAL_SECONDS to
# now - USAGE_ROLLUP_SETTLE_SECONDS (room for ingestion batches still committing) and
# re-reads USAGE_ROLLUP_OVERLAP_SECONDS before the old watermark (a batch that committed late).
USAGE_ROLLUP_INTERVAL_SECONDS = env.float("USAGE_ROLLUP_INTERVAL_SECONDS", default=15.0)
USAGE_ROLLUP_SETTLE_SECONDS = env.int("USAGE_ROLLUP_SETTLE_SECONDS", default=5)
USAGE_ROLLUP_OVERLAP_SECONDS = env.int("USAGE_ROLLUP_OVERLAP_SECONDS", default=300)
# PostgreSQL's work_mem for one aggregate over buckets (SET LOCAL; the default 4MB spills).
USAGE_ROLLUP_WORK_MEM = env("USAGE_ROLLUP_WORK_MEM", default="32MB")
# Buckets are kept this long: longer than the raw events, so old months keep their totals.
USAGE_ROLLUP_RETENTION_DAYS = env.int("USAGE_ROLLUP_RETENTION_DAYS", default=1100)
CELERY_BEAT_SCHEDULE["usage-rollup-refresh"] = {
    "task": "usage.tasks.rollup_refresh",
    "schedule": USAGE_ROLLUP_INTERVAL_SECONDS,
}
CELERY_BEAT_SCHEDULE["usage-rollup-prune"] = {
    "task": "usage.tasks.rollup_prune",
    "schedule": 24 * 3600.0,
}

# GPU provider (docs/gpu_provider.md). GPU_PROVIDER is "runpod" (the RunPod adapter at the
# URLs below: RunPod in production, the simulator in development and tests) or "simulator"
# (the adapter at a simulator started inside the process). The URLs are RunPod's own, never a
# customer's: they do not go through hypereal_site/outbound.py.
GPU_ENABLED = env.bool("GPU_ENABLED", default=True)
GPU_PROVIDER = env("GPU_PROVIDER", default="runpod")
RUNPOD_API_KEY = env("RUNPOD_API_KEY", default="")
RUNPOD_API_URL = env("RUNPOD_API_URL", default="https://api.runpod.ai/v2").rstrip("/")
RUNPOD_REST_URL = env("RUNPOD_REST_URL", default="https://rest.runpod.io/v1").rstrip("/")
RUNPOD_CONNECT_TIMEOUT_SECONDS = env.float("RUNPOD_CONNECT_TIMEOUT_SECONDS", default=5.0)
RUNPOD_READ_TIMEOUT_SECONDS = env.float("RUNPOD_READ_TIMEOUT_SECONDS", default=30.0)
# One provider answer larger than this is refused (a job's output is capped lower by the jobs).
RUNPOD_MAX_RESPONSE_BYTES = env.int("RUNPOD_MAX_RESPONSE_BYTES", default=64 * 1024 * 1024)
# --- GPU jobs (docs/gpu_jobs.md) ------------------------------------------------------------
# A submitted job may wait this long in the provider's queue on top of its execution
# timeout; past both (``GpuJob.timeout_at``) it is cancelled and refunded as timed out.
GPU_JOB_QUEUE_SECONDS = env.int("GPU_JOB_QUEUE_SECONDS", default=600)
# The job's hold outlives ``timeout_at`` by this much, so the poller settles before it expires.
GPU_JOB_HOLD_GRACE_SECONDS = env.int("GPU_JOB_HOLD_GRACE_SECONDS", default=300)
# ``"sync": true`` waits inline this long at most, polling the provider every interval.
GPU_JOB_SYNC_WAIT_SECONDS = env.float("GPU_JOB_SYNC_WAIT_SECONDS", default=240.0)
GPU_JOB_SYNC_POLL_SECONDS = env.float("GPU_JOB_SYNC_POLL_SECONDS", default=1.0)
# A job's input (JSON-encoded) and stored output; data: URLs in an output longer than
# GPU_JOB_DATA_URL_MAX_BYTES are refused (the job fails with a clear error).
GPU_JOB_INPUT_MAX_BYTES = env.int("GPU_JOB_INPUT_MAX_BYTES", default=512 * 1024)
GPU_JOB_OUTPUT_MAX_BYTES = env.int("GPU_JOB_OUTPUT_MAX_BYTES", default=1024 * 1024)
GPU_JOB_DATA_URL_MAX_BYTES = env.int("GPU_JOB_DATA_URL_MAX_BYTES", default=256 * 1024)
GPU_JOB_OUTPUT_RETENTION_DAYS = env.int("GPU_JOB_OUTPUT_RETENTION_DAYS", default=30)
# The beat poller's backoff after a provider error: base × 2^(failures-1), capped.
GPU_JOB_RETRY_BASE_SECONDS = env.float("GPU_JOB_RETRY_BASE_SECONDS", default=5.0)
GPU_JOB_RETRY_MAX_SECONDS = env.float("GPU_JOB_RETRY_MAX_SECONDS", default=300.0)
# Serverless models priced per request have no max_seconds: they time out after this.
GPU_SERVERLESS_DEFAULT_TIMEOUT_SECONDS = env.int(
    "GPU_SERVERLESS_DEFAULT_TIMEOUT_SECONDS", default=300
)
# Where the provider POSTs a job's final status (the job's callback URL is built on it).
GPU_CALLBACK_BASE_URL = env("GPU_CALLBACK_BASE_URL", default=SITE_URL).rstrip("/")
CELERY_BEAT_SCHEDULE["gpu-jobs-poll"] = {"task": "infra.job_tasks.poll_jobs", "schedule": 15.0}
CELERY_BEAT_SCHEDULE["gpu-jobs-prune-outputs"] = {
    "task": "infra.job_tasks.prune_job_outputs",
    "schedule": 3600.0,
}

# --- Webhooks (docs/webhooks.md) ----------------------------------------------------------
WEBHOOK_TIMEOUT_SECONDS = env.float("WEBHOOK_TIMEOUT_SECONDS", default=15.0)
# How often beat sweeps the outbox for due retries and messages the on-commit task missed.
WEBHOOK_SWEEP_SECONDS = env.float("WEBHOOK_SWEEP_SECONDS", default=10.0)
WEBHOOK_RETENTION_DAYS = env.int("WEBHOOK_RETENTION_DAYS", default=30)
CELERY_BEAT_SCHEDULE["webhooks-sweep-outbox"] = {
    "task": "webhooks.tasks.sweep_outbox",
    "schedule": WEBHOOK_SWEEP_SECONDS,
}
CELERY_BEAT_SCHEDULE["webhooks-prune-messages"] = {
    "task": "webhooks.tasks.prune_messages",
    "schedule": 24 * 3600.0,
}
