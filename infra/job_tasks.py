"""Beat tasks of GPU jobs: "our cron + webhook poller" and the output retention."""

from celery import shared_task

from . import jobs


@shared_task
def poll_jobs() -> int:
    """Poll, resubmit, time out or settle every job nobody else is polling."""
    return jobs.jobs_poll_due()


@shared_task
def prune_job_outputs() -> int:
    return jobs.job_outputs_prune()
