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
# The GPU simulator `make run` starts (manage.py gpu_simulator): the RunPod adapter talks to it
# as it would to RunPod (docs/gpu_provider.md). RUNPOD_* in the environment point elsewhere.
GPU_SIMULATOR_PORT = env.int("GPU_SIMULATOR_PORT", default=8911)
RUNPOD_API_KEY = env("RUNPOD_API_KEY", default="simulator")
RUNPOD_API_URL = env("RUNPOD_API_URL", default=f"http://127.0.0.1:{GPU_SIMULATOR_PORT}/v2")
RUNPOD_REST_URL = env("RUNPOD_REST_URL", default=f"http://127.0.0.1:{GPU_SIMULATOR_PORT}/v1")
