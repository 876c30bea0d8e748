from celery import shared_task

from . import services


@shared_task
def refresh_deployments() -> int:
    """Deploying → ready | failed from provider health; retries provider work left over
    (endpoint creation, settings updates, deletes). Idempotent; runs on beat."""
    return services.deployments_refresh()
