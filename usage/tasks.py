"""Beat tasks keeping usage storage bounded (``usage/storage.py``; the schedule is
``CELERY_BEAT_SCHEDULE`` in the settings)."""

from celery import shared_task

from . import storage


@shared_task
def ensure_usage_partitions() -> list[str]:
    return storage.usage_partitions_ensure_ahead()


@shared_task
def apply_usage_retention() -> list[dict]:
    return [{"month": d.month, "rows": d.rows} for d in storage.usage_retention_apply()]


@shared_task
def prune_usage_requests() -> int:
    return storage.usage_requests_prune()
