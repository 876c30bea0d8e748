"""Settings of the Celery worker and beat that tests/infra/test_job_concurrency.py starts:
the test settings, tasks really queued on the test's own queue, beat sending only the GPU
job poller, every second.

Until the provider package's ``get_provider()`` (settings ``GPU_PROVIDER``) is on this
branch, the worker reaches the test's loopback RunPod-shaped server through the same
client the test uses (``TEST_RUNPOD_URL``).
"""

import infra.providers
from hypereal_site.settings.test import *  # noqa: F403
from hypereal_site.settings.test import env
from tests.infra.jobfakes import RunpodFakeClient

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env("TEST_CELERY_QUEUE")
CELERY_BEAT_SCHEDULE = {
    "gpu-jobs-poll": {"task": "infra.job_tasks.poll_jobs", "schedule": 1.0},
}
GPU_JOB_RETRY_BASE_SECONDS = 0.0

_RUNPOD_URL = env("TEST_RUNPOD_URL")
infra.providers.get_provider = lambda: RunpodFakeClient(_RUNPOD_URL)
