"""Local development: DEBUG on, SQLite, console email, eager Celery unless REDIS_URL is set."""

from .base import *  # noqa: F403
from .base import STRIPE_SECRET_KEY, env

DEBUG = env.bool("DEBUG", default=True)
MFA_WEBAUTHN_ALLOW_INSECURE_ORIGIN = True
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Try a top-up without Stripe (README, "Try a top-up without Stripe").
LOCAL_CHECKOUT = env.bool("LOCAL_CHECKOUT", default=DEBUG and not STRIPE_SECRET_KEY)
