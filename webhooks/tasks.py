"""Celery tasks: deliver one message (queued on commit), the beat sweeper, the disabled-
endpoint email, and pruning old messages. Each passes ids and calls a service."""

from celery import shared_task
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse

from hypereal_site.notify import send_once

from . import delivery, selectors
from .models import WebhookEndpoint, WebhookMessage
from .services import retention_cutoff


@shared_task(name="webhooks.tasks.deliver_message", ignore_result=True)
def deliver_message(message_id: int) -> None:
    attempt = delivery.message_deliver(message_id=message_id)
    if attempt is None:
        return
    # The first retries come within seconds: wait for them here rather than for the next
    # sweep. Later ones (minutes to hours) are the sweeper's.
    message = WebhookMessage.objects.filter(pk=message_id).only("status", "next_attempt_at").first()
    if message is None or message.status != WebhookMessage.Status.PENDING:
        return
    wait = (message.next_attempt_at - attempt.created_at).total_seconds()
    if 0 <= wait <= settings.WEBHOOK_SWEEP_SECONDS:
        deliver_message.apply_async((message_id,), countdown=wait)


@shared_task(name="webhooks.tasks.sweep_outbox", ignore_result=True)
def sweep_outbox() -> int:
    """Every few seconds (beat): queue every message whose attempt is due."""
    due = delivery.messages_due()
    for pk in due:
        deliver_message.delay(pk)
    return len(due)


@shared_task(name="webhooks.tasks.prune_messages", ignore_result=True)
def prune_messages() -> int:
    deleted, _ = WebhookMessage.objects.filter(
        created_at__lt=retention_cutoff(), next_attempt_at__isnull=True
    ).delete()
    return deleted


@shared_task(
    bind=True, max_retries=5, default_retry_delay=30, name="webhooks.tasks.endpoint_disabled"
)
def send_endpoint_disabled_email(self, endpoint_id: int, stamp: str) -> bool:
    endpoint = WebhookEndpoint.objects.select_related("organization").filter(pk=endpoint_id).first()
    if endpoint is None or endpoint.enabled:
        return False
    context = {
        "endpoint": endpoint,
        "organization": endpoint.organization,
        "url": f"{settings.SITE_URL}{reverse('webhooks_detail', args=[endpoint.public_id])}",
        "site_name": settings.SITE_NAME,
    }
    try:
        return send_once(
            key=f"webhook-disabled:{endpoint.public_id}:{stamp}",
            recipients=selectors.endpoint_contacts(organization=endpoint.organization),
            # Rendered once per recipient language (each reads it in their own).
            render=lambda: (
                render_to_string("webhooks/email/disabled_subject.txt", context).strip(),
                render_to_string("webhooks/email/disabled_message.txt", context),
            ),
        )
    except Exception as exc:
        raise self.retry(exc=exc) from exc
