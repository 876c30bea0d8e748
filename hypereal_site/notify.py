"""Emails that must be sent exactly once per occasion, even when a task is retried."""

import logging

from django.core.mail import send_mail
from django.db import IntegrityError, transaction

from .models import SentEmail

logger = logging.getLogger("hypereal.notify")


def send_once(*, key: str, recipients: list[str], subject: str, body: str) -> bool:
    """Send unless ``key`` was already sent; True when this call sent it.

    The key is claimed in its own committed transaction before sending. If sending fails
    the claim is withdrawn and the error propagates, so the caller's retry sends again.
    """
    if not recipients:
        return False
    try:
        with transaction.atomic():
            claim = SentEmail.objects.create(
                key=key, recipients=", ".join(recipients), subject=subject[:255]
            )
    except IntegrityError:
        return False
    try:
        send_mail(subject, body, None, recipients)
    except Exception:
        SentEmail.objects.filter(pk=claim.pk).delete()
        raise
    logger.info("notification sent", extra={"key": key, "recipients": len(recipients)})
    return True
