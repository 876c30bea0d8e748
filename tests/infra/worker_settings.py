"""Settings of the Celery worker + beat that tests/infra/test_job_concurrency.py starts
(through tests/celeryworker.py): the test settings, tasks really queued on the test's own
queue, beat sending only the GPU job poller, every second. The provider is the test's
simulator: the ``gpu_simulator`` fixture put its URLs and key in the environment, which the
test settings read (``GPU_PROVIDER``, ``RUNPOD_API_URL``, ``RUNPOD_REST_URL``,
``RUNPOD_API_KEY``)."""

from hypereal_site.settings.test import *  # noqa: F403
from hypereal_site.settings.test import env

CELERY_TASK_ALWAYS_EAGER = False
CELERY_TASK_DEFAULT_QUEUE = env("TEST_CELERY_QUEUE")
CELERY_BEAT_SCHEDULE = {
    "gpu-jobs-poll": {"task": "infra.job_tasks.poll_jobs", "schedule": 1.0},
}
GPU_JOB_RETRY_BASE_SECONDS = 0.0
