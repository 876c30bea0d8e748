"""The low-balance alert: one email per downward crossing of the owner's threshold."""

from django.db import transaction
from django.db.models import F

from .models import Wallet


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
            from .tasks import send_low_balance_email

            wallet_id = wallet.pk
            transaction.on_commit(lambda: send_low_balance_email.delay(wallet_id))
    elif wallet.low_balance_alerted:
        Wallet.objects.filter(pk=wallet.pk, low_balance_alerted=True).update(
            low_balance_alerted=False
        )
