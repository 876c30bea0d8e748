from datetime import timedelta

from django.utils import timezone

from infra.models import Deployment, GpuJob
from webhooks import services
from webhooks.events import EVENT_TYPES


def endpoint_make(org, actor, url: str, event_types=None, **kwargs):
    return services.endpoint_create(
        organization=org,
        actor=actor,
        url=url,
        event_types=list(event_types or EVENT_TYPES),
        **kwargs,
    )


def deployment_make(org, *, webhook_url: str = "", secret: str = "", **kwargs) -> Deployment:
    from hypereal_site.crypto import encrypt  # noqa: PLC0415 - one helper

    return Deployment.objects.create(
        organization=org,
        slug=kwargs.pop("slug", "comfy"),
        name=kwargs.pop("name", "ComfyUI"),
        docker_image="runpod/worker-comfyui:5.1.0-base",
        gpu_types=["ADA_48_PRO"],
        webhook_url=webhook_url,
        webhook_secret_encrypted=encrypt(secret) if secret else "",
        **kwargs,
    )


def job_make(deployment: Deployment, *, status: str = "succeeded", **kwargs) -> GpuJob:
    now = timezone.now()
    return GpuJob.objects.create(
        organization=deployment.organization,
        deployment=deployment,
        status=status,
        provider_job_id="rp-123",
        input={"prompt": "a cat"},
        output={"images": ["https://cdn.example.com/cat.png"]} if status == "succeeded" else None,
        gpu_type="ADA_48_PRO",
        execution_ms=12_345,
        charged_microcredits=9_876_543,
        started_at=now - timedelta(seconds=13),
        finished_at=now,
        timeout_at=now + timedelta(minutes=10),
        **kwargs,
    )


def endpoint_with_log(org, owner, *, url: str):
    """An endpoint and a delivery log made by the ORM (no DNS lookup, no sending): a
    delivered message and a failing one with a long response excerpt."""
    from hypereal_site.crypto import encrypt  # noqa: PLC0415 - one helper
    from webhooks.models import WebhookEndpoint  # noqa: PLC0415
    from webhooks.signing import new_secret  # noqa: PLC0415

    endpoint = WebhookEndpoint.objects.create(
        organization=org,
        url=url,
        description="D" * 200,
        event_types=list(EVENT_TYPES),
        secret_encrypted=encrypt(new_secret()),
        created_by=owner,
    )
    _delivery_log(
        org,
        url,
        failing=("key.spending_limit.warning", {"k": "v" * 300}),
        endpoint=endpoint,
    )
    return endpoint


def deployment_with_log(deployment: Deployment, *, url: str) -> Deployment:
    """Give a deployment a webhook URL and secret and a delivery log made by the ORM (no
    DNS lookup, no sending): a delivered job event and a failing one with a long excerpt."""
    from hypereal_site.crypto import encrypt  # noqa: PLC0415 - one helper
    from webhooks.signing import new_secret  # noqa: PLC0415

    deployment.webhook_url = url
    deployment.webhook_secret_encrypted = encrypt(new_secret())
    deployment.save(update_fields=["webhook_url", "webhook_secret_encrypted"])
    _delivery_log(
        deployment.organization,
        url,
        failing=("job.failed", {"error": "E" * 1000}),
        deployment=deployment,
    )
    return deployment


def _delivery_log(org, url: str, *, failing: tuple[str, dict], **target) -> None:
    """A delivered ``job.succeeded`` and a failing ``failing`` event (two attempts, a 1,000
    character excerpt) for ``target``: ``endpoint=`` or ``deployment=``."""
    from webhooks.events import envelope  # noqa: PLC0415
    from webhooks.models import WebhookAttempt, WebhookMessage  # noqa: PLC0415

    now = timezone.now()
    ok = WebhookMessage.objects.create(
        organization=org,
        event_type="job.succeeded",
        body=envelope(event_type="job.succeeded", data={"jobId": "J" * 100}, at=now),
        status="succeeded",
        attempt_count=1,
        next_attempt_at=None,
        last_status_code=200,
        **target,
    )
    WebhookAttempt.objects.create(message=ok, number=1, url=url, succeeded=True, status_code=200)
    event_type, data = failing
    message = WebhookMessage.objects.create(
        organization=org,
        event_type=event_type,
        body=envelope(event_type=event_type, data=data, at=now),
        attempt_count=2,
        next_attempt_at=now + timedelta(minutes=5),
        last_status_code=503,
        **target,
    )
    for number in (1, 2):
        WebhookAttempt.objects.create(
            message=message,
            number=number,
            url=url,
            status_code=503,
            response_excerpt="E" * 1000,
            duration_ms=15_000,
            error_code="http_status",
            error_params={"status": 503},
        )
