"""Beat tasks of the usage app (the schedule is ``CELERY_BEAT_SCHEDULE`` in the settings):
keep usage storage bounded (``usage/storage.py``) and the rollups in step with the raw events
(``usage/rollups.py``)."""

from celery import shared_task

from . import rollups, storage


@shared_task
def ensure_usage_partitions() -> list[str]:
    return storage.usage_partitions_ensure_ahead()


@shared_task
def apply_usage_retention() -> list[dict]:
    return [{"month": d.month, "rows": d.rows} for d in storage.usage_retention_apply()]


@shared_task
def prune_usage_requests() -> int:
    return storage.usage_requests_prune()


@shared_task(ignore_result=True)
def rollup_refresh() -> dict:
    result = rollups.rollup_refresh()
    if "watermark" in result:
        result["watermark"] = result["watermark"].isoformat()
    return result


@shared_task(ignore_result=True)
def rollup_prune() -> int:
    return rollups.rollup_prune()
