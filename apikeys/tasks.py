from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string

from billing.money import format_credits
from hypereal_site.notify import send_once

from .models import KeyAlert
from .selectors import key_alert_recipients


@shared_task
def verification_cache_delete(cache_keys: list[str]) -> None:
    cache.delete_many(cache_keys)


@shared_task(bind=True, max_retries=5, default_retry_delay=30)
def send_key_alert_email(self, alert_id: int) -> bool:
    """The 80% heads-up or the 100% cap email, exactly once per alert (send_once)."""
    alert = (
        KeyAlert.objects.select_related("key__organization", "key__created_by")
        .filter(pk=alert_id)
        .first()
    )
    if alert is None:
        return False
    key = alert.key
    context = {
        "alert": alert,
        "key": key,
        "organization": key.organization,
        "spend": format_credits(alert.spend_microcredits),
        "limit": format_credits(alert.limit_microcredits),
        "key_url": f"{settings.SITE_URL}/manage-api-keys/{key.public_id}",
    }
    try:
        return send_once(
            key=f"key-alert:{alert.pk}",
            recipients=key_alert_recipients(key=key),
            subject=render_to_string("apikeys/email/alert_subject.txt", context).strip(),
            body=render_to_string("apikeys/email/alert_message.txt", context),
        )
    except Exception as exc:
        raise self.retry(exc=exc) from exc
