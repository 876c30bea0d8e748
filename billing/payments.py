"""Stripe top-ups: Checkout Sessions out, verified webhooks in.

Credits are granted only by the webhook, keyed by Stripe object ids, so duplicate and
out-of-order deliveries change nothing twice. A refund or dispute that arrives before the
payment's own completion event is still applied (the balance may dip below zero until the
completion credit lands).
"""

import logging

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from hypereal_site.api.errors import ApplicationError
from orgs.audit import audit_record

from . import stripe_gateway
from .ledger import ledger_post_in_transaction
from .models import MICROCREDITS_PER_CENT, LedgerEntry, Payment, StripeEvent, Wallet

logger = logging.getLogger("hypereal.billing")

HANDLED = {
    "checkout.session.completed",
    "checkout.session.async_payment_succeeded",
    "checkout.session.async_payment_failed",
    "checkout.session.expired",
    "charge.refunded",
    "charge.dispute.created",
    "charge.dispute.closed",
}


class StripeNotConfigured(ApplicationError):
    def __init__(self) -> None:
        super().__init__(
            "stripe_not_configured",
            _("Top-ups are not configured: set STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET."),
            status=503,
        )


def topup_start(*, wallet: Wallet, actor: User, amount_cents: int) -> tuple[Payment, str]:
    """Create the Payment and its Stripe Checkout Session; returns (payment, redirect URL).

    The Stripe call runs outside any database transaction (no lock is held across the
    network); if it fails, the pending Payment is removed again and the error propagates.
    """
    if not stripe_gateway.is_configured():
        raise StripeNotConfigured()
    low, high = settings.TOPUP_MIN_USD * 100, settings.TOPUP_MAX_USD * 100
    if not low <= amount_cents <= high:
        raise ApplicationError(
            "invalid_amount",
            _("Top up between $%(low)s and $%(high)s.")
            % {"low": settings.TOPUP_MIN_USD, "high": f"{settings.TOPUP_MAX_USD:,}"},
        )
    payment = Payment.objects.create(
        wallet=wallet, created_by=actor, amount_cents=amount_cents, credits=amount_cents
    )
    try:
        url = _checkout_session(payment=payment, wallet=wallet, actor=actor)
    except Exception:
        Payment.objects.filter(pk=payment.pk, status=Payment.Status.PENDING).delete()
        raise
    return payment, url


def _checkout_session(*, payment: Payment, wallet: Wallet, actor: User) -> str:
    amount_cents = payment.amount_cents
    metadata = {
        "payment": payment.public_id,
        "wallet": wallet.public_id,
        "credits": str(payment.credits),
    }
    success = reverse("billing_topup_success", args=[payment.public_id])
    session = stripe_gateway.checkout_session_create(
        params={
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": "usd",
                        "unit_amount": amount_cents,
                        "product_data": {"name": f"{payment.credits:,} Hypereal credits"},
                    },
                }
            ],
            "client_reference_id": payment.public_id,
            "customer_email": actor.email,
            "metadata": metadata,
            "payment_intent_data": {"metadata": metadata},
            "success_url": f"{settings.SITE_URL}{success}?session_id={{CHECKOUT_SESSION_ID}}",
            "cancel_url": f"{settings.SITE_URL}{reverse('billing_overview')}?topup=cancelled",
        },
        idempotency_key=f"checkout:{payment.public_id}",
    )
    with transaction.atomic():
        payment.checkout_session_id = session["id"]
        payment.save(update_fields=["checkout_session_id"])
        audit_record(
            organization=wallet.organization,
            actor=actor,
            action="billing.topup_started",
            after={"payment": payment.public_id, "amount_cents": amount_cents},
        )
    return session["url"]


# --- webhook ------------------------------------------------------------------------------


class WebhookHandlerFailed(Exception):
    """A verified, stored event whose handler raised. Kept apart from the ``ValueError``
    of a malformed body, so that the endpoint answers 500 (Stripe redelivers), not 400."""


def webhook_receive(*, payload: bytes, signature: str | None) -> StripeEvent:
    """Verify, store (unique by event id), then handle. Raises on a bad signature before
    anything is stored. A handler failure is recorded on the event and re-raised, so the
    endpoint answers 500 and Stripe redelivers."""
    event = stripe_gateway.webhook_event(payload=payload, signature=signature)
    try:
        with transaction.atomic():
            stored = StripeEvent.objects.create(
                event_id=event["id"], type=event.get("type", ""), payload=event
            )
    except IntegrityError:
        stored = StripeEvent.objects.get(event_id=event["id"])
        if stored.status in {StripeEvent.Status.PROCESSED, StripeEvent.Status.IGNORED}:
            return stored  # a duplicate delivery: already handled
    stored.attempts += 1
    try:
        handled = event_handle(event)
    except Exception as exc:
        stored.status = StripeEvent.Status.FAILED
        stored.error = f"{type(exc).__name__}: {exc}"[:5000]
        stored.save(update_fields=["status", "error", "attempts"])
        logger.exception("stripe webhook handler failed", extra={"event_id": event["id"]})
        raise WebhookHandlerFailed(stored.error) from exc
    stored.status = StripeEvent.Status.PROCESSED if handled else StripeEvent.Status.IGNORED
    stored.error = ""
    stored.processed_at = timezone.now()
    stored.save(update_fields=["status", "error", "attempts", "processed_at"])
    return stored


def event_handle(event: dict) -> bool:
    """Apply one verified event; True when it was one we act on."""
    kind = event.get("type")
    obj = (event.get("data") or {}).get("object") or {}
    if kind not in HANDLED:
        return False
    if kind in {"checkout.session.completed", "checkout.session.async_payment_succeeded"}:
        return _checkout_paid(obj, require_paid=kind == "checkout.session.completed")
    if kind in {"checkout.session.async_payment_failed", "checkout.session.expired"}:
        return _checkout_failed(obj, expired=kind == "checkout.session.expired")
    if kind == "charge.refunded":
        return _charge_refunded(obj)
    if kind == "charge.dispute.created":
        return _dispute_created(obj)
    return _dispute_closed(obj)


def _payment_from_session(session: dict) -> Payment:
    payment_id = (session.get("metadata") or {}).get("payment") or session.get(
        "client_reference_id"
    )
    payment = (
        Payment.objects.select_for_update()
        .select_related("wallet__organization")
        .filter(public_id=payment_id)
        .first()
    )
    if payment is None or (
        payment.checkout_session_id and payment.checkout_session_id != session.get("id")
    ):
        raise LookupError(f"no payment for checkout session {session.get('id')}")
    return payment


def _payment_from_charge(*, metadata: dict | None, payment_intent: str | None) -> Payment:
    qs = Payment.objects.select_for_update().select_related("wallet__organization")
    payment = None
    if metadata and metadata.get("payment"):
        payment = qs.filter(public_id=metadata["payment"]).first()
    if payment is None and payment_intent:
        payment = qs.filter(payment_intent_id=payment_intent).first()
    if payment is None:
        raise LookupError(f"no payment for payment intent {payment_intent}")
    return payment


@transaction.atomic
def _checkout_paid(session: dict, *, require_paid: bool) -> bool:
    if require_paid and session.get("payment_status") not in {"paid", "no_payment_required"}:
        return False  # an async method: wait for async_payment_succeeded
    payment = _payment_from_session(session)
    if session.get("amount_total") is not None and session["amount_total"] != payment.amount_cents:
        raise ValueError(
            f"session {session.get('id')} paid {session['amount_total']}¢, "
            f"expected {payment.amount_cents}¢"
        )
    _entry, created = ledger_post_in_transaction(
        wallet=payment.wallet,
        amount_microcredits=payment.amount_cents * MICROCREDITS_PER_CENT,
        kind=LedgerEntry.Kind.TOPUP,
        idempotency_key=f"stripe:checkout:{session['id']}",
        reference=session.get("payment_intent") or session["id"],
        description=f"Top-up ${payment.amount_cents / 100:,.2f}",
        actor=payment.created_by,
    )
    payment.status = Payment.Status.PAID
    payment.paid_at = payment.paid_at or timezone.now()
    payment.payment_intent_id = session.get("payment_intent") or payment.payment_intent_id
    payment.save(update_fields=["status", "paid_at", "payment_intent_id"])
    if created:
        audit_record(
            organization=payment.wallet.organization,
            actor=None,
            action="billing.topup_paid",
            after={"payment": payment.public_id, "credits": payment.credits},
        )
    return True


@transaction.atomic
def _checkout_failed(session: dict, *, expired: bool) -> bool:
    payment = _payment_from_session(session)
    if payment.status == Payment.Status.PENDING:
        payment.status = Payment.Status.EXPIRED if expired else Payment.Status.FAILED
        payment.save(update_fields=["status"])
    return True


@transaction.atomic
def _charge_refunded(charge: dict) -> bool:
    payment = _payment_from_charge(
        metadata=charge.get("metadata"), payment_intent=charge.get("payment_intent")
    )
    refunds = ((charge.get("refunds") or {}).get("data")) or []
    succeeded = [r for r in refunds if r.get("status") in {"succeeded", None}]
    # ``payment.refunded_cents`` is what the ledger has debited for this charge so far, by
    # either path below; the payment row is locked, so deliveries apply one at a time.
    if succeeded:
        keys = {r["id"]: f"stripe:refund:{r['id']}" for r in succeeded}
        posted = set(
            LedgerEntry.objects.filter(idempotency_key__in=keys.values()).values_list(
                "idempotency_key", flat=True
            )
        )
        posted_cents = sum(int(r["amount"]) for r in succeeded if keys[r["id"]] in posted)
        # Debited earlier from a delivery without the list (an endpoint on another API
        # version): those refunds are already paid for, oldest first.
        unattributed = max(payment.refunded_cents - posted_cents, 0)
        movements = []
        for r in reversed(succeeded):  # Stripe lists newest first
            if keys[r["id"]] in posted:
                continue
            covered = min(unattributed, int(r["amount"]))
            unattributed -= covered
            if int(r["amount"]) > covered:
                movements.append((keys[r["id"]], int(r["amount"]) - covered, r["id"]))
    else:
        # Without the refund list, the newly refunded amount is the growth of the total.
        total = int(charge.get("amount_refunded") or 0)
        new = total - payment.refunded_cents
        movements = (
            [(f"stripe:charge:{charge['id']}:refunded-to:{total}", new, charge["id"])]
            if new > 0
            else []
        )
    for key, cents, reference in movements:
        _entry, created = ledger_post_in_transaction(
            wallet=payment.wallet,
            amount_microcredits=-int(cents) * MICROCREDITS_PER_CENT,
            kind=LedgerEntry.Kind.REFUND,
            idempotency_key=key,
            reference=reference,
            description=f"Refund ${int(cents) / 100:,.2f}",
        )
        if created:
            _audit_money(payment, "billing.refunded", reference, -int(cents))
    payment.charge_id = charge.get("id") or payment.charge_id
    payment.refunded_cents += sum(int(cents) for _key, cents, _ref in movements)
    payment.save(update_fields=["charge_id", "refunded_cents"])
    return True


def _audit_money(payment: Payment, action: str, reference: str, cents: int) -> None:
    audit_record(
        organization=payment.wallet.organization,
        actor=None,
        action=action,
        after={"payment": payment.public_id, "reference": reference, "amount_cents": cents},
    )


@transaction.atomic
def _dispute_created(dispute: dict) -> bool:
    if str(dispute.get("status", "")).startswith("warning_"):
        return False  # an inquiry: Stripe withdraws nothing, so neither do we
    payment = _payment_from_charge(
        metadata=dispute.get("metadata"), payment_intent=dispute.get("payment_intent")
    )
    _entry, created = ledger_post_in_transaction(
        wallet=payment.wallet,
        amount_microcredits=-int(dispute["amount"]) * MICROCREDITS_PER_CENT,
        kind=LedgerEntry.Kind.DISPUTE,
        idempotency_key=f"stripe:dispute:{dispute['id']}:withdrawn",
        reference=dispute["id"],
        description=f"Dispute opened, ${int(dispute['amount']) / 100:,.2f} withdrawn",
    )
    if created:
        _audit_money(payment, "billing.dispute_opened", dispute["id"], -int(dispute["amount"]))
    payment.disputed_cents = int(dispute["amount"])
    payment.save(update_fields=["disputed_cents"])
    return True


@transaction.atomic
def _dispute_closed(dispute: dict) -> bool:
    payment = _payment_from_charge(
        metadata=dispute.get("metadata"), payment_intent=dispute.get("payment_intent")
    )
    if dispute.get("status") != "won":
        # Lost: the withdrawal stands. An inquiry closed (warning_closed) never withdrew.
        return True
    # A dispute closed as won before its "created" event arrived still nets to zero:
    # post the withdrawal first (idempotent), then the reinstatement.
    _dispute_created(dispute)
    _entry, created = ledger_post_in_transaction(
        wallet=payment.wallet,
        amount_microcredits=int(dispute["amount"]) * MICROCREDITS_PER_CENT,
        kind=LedgerEntry.Kind.DISPUTE_REVERSAL,
        idempotency_key=f"stripe:dispute:{dispute['id']}:reinstated",
        reference=dispute["id"],
        description=f"Dispute won, ${int(dispute['amount']) / 100:,.2f} reinstated",
    )
    if created:
        _audit_money(payment, "billing.dispute_reinstated", dispute["id"], int(dispute["amount"]))
    payment.disputed_cents = 0
    payment.save(update_fields=["disputed_cents"])
    return True
