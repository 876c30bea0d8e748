from celery import shared_task
from django.conf import settings
from django.core.cache import cache
from django.template.loader import render_to_string

from billing.money import format_credits
from hypereal_site.notify import send_once

from . import reservations
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
            render=lambda: (
                render_to_string("apikeys/email/alert_subject.txt", context).strip(),
                render_to_string("apikeys/email/alert_message.txt", context),
            ),
        )
    except Exception as exc:
        raise self.retry(exc=exc) from exc


@shared_task
def reservation_alert(key_pk: int, period: str, spend_and_reserved: int) -> int:
    """A reservation took a key's spend + reserved across 80% or 100% of its cap: fire the
    alerts now due (each once) and auto-disable at 100% before the calls run."""
    from .caps import caps_alert_reserved  # noqa: PLC0415 - caps imports this module

    return caps_alert_reserved(key_pk=key_pk, period=period, amount=spend_and_reserved)


@shared_task
def expire_reservations() -> int:
    """Apply the settlements the store refused after commit (journalled), then release
    the reservations nobody reported within RESERVATION_TTL_SECONDS."""
    reservations.settle_pending()
    released = 0
    while (count := reservations.expire_due(1000)) > 0:
        released += count
        if count < 1000:
            break
    return released


@shared_task
def reconcile_reservations() -> int:
    """Compare the reservation counters with PostgreSQL; fix what drifted (see
    ``manage.py caps_check``). Returns how many counters were wrong."""
    return len(reservations.reconcile(fix=True))
