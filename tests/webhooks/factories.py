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
