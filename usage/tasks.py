"""Beat tasks of the usage app: keep the rollups in step with the raw events."""

from celery import shared_task

from . import rollups


@shared_task(ignore_result=True)
def rollup_refresh() -> dict:
    result = rollups.rollup_refresh()
    if "watermark" in result:
        result["watermark"] = result["watermark"].isoformat()
    return result


@shared_task(ignore_result=True)
def rollup_prune() -> int:
    return rollups.rollup_prune()
