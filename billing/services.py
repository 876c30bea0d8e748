"""Billing services beyond the ledger core: staff adjustments and alert settings."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from accounts.models import User
from orgs.audit import audit_record

from .ledger import ledger_post_in_transaction
from .models import LedgerEntry, Wallet


@transaction.atomic(durable=True)
def wallet_adjust(
    *,
    wallet: Wallet,
    actor: User,
    amount_microcredits: int,
    reason: str,
    kind: str = LedgerEntry.Kind.ADJUSTMENT,
    idempotency_key: str,
) -> LedgerEntry:
    """A staff grant or correction, with a mandatory reason, audited in the owner's log."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": _("Give a reason; it is kept in the ledger and audit log.")}
        )
    if kind not in {LedgerEntry.Kind.ADJUSTMENT, LedgerEntry.Kind.GRANT}:
        raise ValidationError({"kind": _("Staff may post grants or adjustments only.")})
    if amount_microcredits == 0:
        raise ValidationError({"amount": _("Enter a non-zero amount.")})
    if kind == LedgerEntry.Kind.GRANT and amount_microcredits < 0:
        raise ValidationError({"amount": _("A grant adds credits; use an adjustment to remove.")})
    entry, created = ledger_post_in_transaction(
        wallet=wallet,
        amount_microcredits=amount_microcredits,
        kind=kind,
        idempotency_key=idempotency_key,
        reference=f"staff:{actor.email}",
        description=reason,
        actor=actor,
    )
    if created:
        audit_record(
            organization=wallet.organization,
            actor=actor,
            action=f"billing.{kind}",
            target=None,
            after={
                "amount_microcredits": amount_microcredits,
                "reason": reason,
                "balance_after_microcredits": entry.balance_after_microcredits,
            },
        )
    return entry


@transaction.atomic
def wallet_set_low_balance_threshold(
    *, wallet: Wallet, actor: User, threshold_microcredits: int | None
) -> Wallet:
    if threshold_microcredits is not None and threshold_microcredits < 0:
        raise ValidationError({"threshold": _("Enter zero or more credits, or leave it empty.")})
    wallet = Wallet.objects.select_for_update().get(pk=wallet.pk)
    before = wallet.low_balance_threshold_microcredits
    wallet.low_balance_threshold_microcredits = threshold_microcredits
    # Already below a new threshold: the owner knows; alert on the next crossing instead.
    wallet.low_balance_alerted = (
        threshold_microcredits is not None and wallet.balance_microcredits < threshold_microcredits
    )
    wallet.save(update_fields=["low_balance_threshold_microcredits", "low_balance_alerted"])
    audit_record(
        organization=wallet.organization,
        actor=actor,
        action="billing.alert_threshold_set",
        before={"threshold_microcredits": before},
        after={"threshold_microcredits": threshold_microcredits},
    )
    return wallet
