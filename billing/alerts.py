"""The low-balance alert: one email per downward crossing of the owner's threshold.

The check runs in the ledger's transaction; the email is a Celery task queued after
commit, and it lives here with the check.
"""

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.template.loader import render_to_string

from hypereal_site.notify import send_once

from . import selectors
from .models import Wallet
from .money import format_credits
from .signals import balance_low


def low_balance_check(*, wallet: Wallet, after: int) -> None:
    """Called by the ledger after every balance change, inside its transaction.

    ``wallet`` carries the threshold and alert flag as the ledger's UPDATE returned them
    from the locked row, so nothing is written unless the flag must change.
    """
    threshold = wallet.low_balance_threshold_microcredits
    if threshold is None:
        return
    if after < threshold:
        if wallet.low_balance_alerted:
            return
        # Only the transaction that flips the flag queues the email.
        flipped = Wallet.objects.filter(pk=wallet.pk, low_balance_alerted=False).update(
            low_balance_alerted=True, low_balance_alert_count=F("low_balance_alert_count") + 1
        )
        if flipped:
            wallet_id = wallet.pk
            transaction.on_commit(lambda: send_low_balance_email.delay(wallet_id))
            balance_low.send(
                sender=Wallet,
                organization_id=wallet.organization_id,
                balance_microcredits=after,
                threshold_microcredits=threshold,
            )
    elif wallet.low_balance_alerted:
        Wallet.objects.filter(pk=wallet.pk, low_balance_alerted=True).update(
            low_balance_alerted=False
        )


# The task keeps its registered name from when it lived in tasks.py, so that emails queued
# by a running release are still delivered by the next one.
@shared_task(
    bind=True, max_retries=5, default_retry_delay=30, name="billing.tasks.send_low_balance_email"
)
def send_low_balance_email(self, wallet_id: int) -> bool:
    wallet = Wallet.objects.select_related("organization").filter(pk=wallet_id).first()
    if wallet is None or not wallet.low_balance_alerted:
        return False  # recovered before the email could go: nothing to say
    org = wallet.organization
    context = {
        "organization": org,
        "balance": format_credits(wallet.balance_microcredits),
        "threshold": format_credits(wallet.low_balance_threshold_microcredits or 0),
        "billing_url": f"{settings.SITE_URL}/billing",
    }
    try:
        return send_once(
            key=f"low-balance:{wallet.public_id}:{wallet.low_balance_alert_count}",
            recipients=selectors.billing_contacts(organization=org),
            render=lambda: (
                render_to_string("billing/email/low_balance_subject.txt", context).strip(),
                render_to_string("billing/email/low_balance_message.txt", context),
            ),
        )
    except Exception as exc:
        raise self.retry(exc=exc) from exc
