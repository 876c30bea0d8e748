from celery import shared_task

from . import ledger
from .alerts import send_low_balance_email

# Celery's autodiscovery imports ``tasks`` modules: the alert email task, defined with
# the alert code, is registered through this import.
__all__ = ["expire_holds", "send_low_balance_email"]


@shared_task
def expire_holds() -> int:
    return ledger.holds_expire_due()
