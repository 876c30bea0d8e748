from celery import shared_task
from django.conf import settings
from django.template.loader import render_to_string

from hypereal_site.notify import send_once

from . import ledger, selectors
from .models import Wallet
from .money import format_credits


@shared_task(bind=True, max_retries=5, default_retry_delay=30)
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
            subject=render_to_string("billing/email/low_balance_subject.txt", context).strip(),
            body=render_to_string("billing/email/low_balance_message.txt", context),
        )
    except Exception as exc:
        raise self.retry(exc=exc) from exc


@shared_task
def expire_holds() -> int:
    return ledger.holds_expire_due()
