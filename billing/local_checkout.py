"""A stand-in for Stripe Checkout in development, so that a top-up can be tried without
Stripe keys.

With ``DEBUG`` on, ``LOCAL_CHECKOUT`` on (dev.py's default when ``STRIPE_SECRET_KEY`` is
unset) and no Stripe key, ``stripe_gateway.checkout_session_create`` makes its session here
instead of at Stripe. The payer is sent to ``/billing/checkout/<session id>``, a local
payment step. "Pay" completes the session the way Stripe does, wraps it in a
``checkout.session.completed`` event, signs it as Stripe signs (HMAC-SHA256 over
``"{timestamp}.{payload}"``, header ``t=…,v1=…``) with ``LOCAL_CHECKOUT_WEBHOOK_SECRET``,
and hands the raw bytes and the header to the webhook handler
(``payments.webhook_receive``), which verifies the signature like any delivery. The credits
therefore arrive through the production code path. "Cancel" expires the session the same
way (``checkout.session.expired``).

Production settings refuse ``LOCAL_CHECKOUT`` and ``enabled()`` also needs ``DEBUG``, so the
page 404s and the webhook accepts only Stripe's own secret there.
"""

import copy
import hashlib
import hmac
import json
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

#: A session lives as long as one at Stripe (24 hours), in the cache.
SESSION_SECONDS = 24 * 3600
API_VERSION = "2025-03-31.basil"


def enabled() -> bool:
    return bool(settings.DEBUG and settings.LOCAL_CHECKOUT and not settings.STRIPE_SECRET_KEY)


def _cache_key(session_id: str) -> str:
    return f"local-checkout:{session_id}"


def session_create(params: dict) -> dict:
    """A Checkout Session shaped like Stripe's answer to ``POST /v1/checkout/sessions``."""
    line = params["line_items"][0]
    amount = int(line["price_data"]["unit_amount"]) * int(line.get("quantity", 1))
    session_id = f"cs_local_{secrets.token_hex(16)}"
    now = int(time.time())
    session = {
        "id": session_id,
        "object": "checkout.session",
        "amount_subtotal": amount,
        "amount_total": amount,
        "cancel_url": params.get("cancel_url"),
        "client_reference_id": params.get("client_reference_id"),
        "created": now,
        "currency": line["price_data"]["currency"],
        "customer_email": params.get("customer_email"),
        "expires_at": now + SESSION_SECONDS,
        "livemode": False,
        "metadata": dict(params.get("metadata") or {}),
        "mode": params.get("mode"),
        "payment_intent": None,
        "payment_status": "unpaid",
        "status": "open",
        "success_url": params["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id),
        "url": reverse("billing_local_checkout", args=[session_id]),
        # Not Stripe's: what the payment page shows.
        "product_name": line["price_data"]["product_data"]["name"],
    }
    cache.set(_cache_key(session_id), session, SESSION_SECONDS)
    return copy.deepcopy(session)


def session_get(session_id: str) -> dict | None:
    return cache.get(_cache_key(session_id))


def session_save(session: dict) -> None:
    cache.set(_cache_key(session["id"]), session, max(session["expires_at"] - int(time.time()), 1))


def session_complete(session: dict) -> dict:
    """The payer paid: the session as Stripe's ``checkout.session.completed`` carries it
    (``session_save`` keeps it once the webhook has taken it)."""
    session = copy.deepcopy(session)
    session["payment_intent"] = session["payment_intent"] or f"pi_local_{secrets.token_hex(12)}"
    session["status"] = "complete"
    session["payment_status"] = "paid"
    return session


def session_expire(session: dict) -> dict:
    session = copy.deepcopy(session)
    session["status"] = "expired"
    return session


def event_for(kind: str, session: dict) -> bytes:
    """A Stripe event envelope around ``session``, as the exact bytes Stripe would send."""
    obj = {k: v for k, v in session.items() if k != "product_name"}
    event = {
        "id": f"evt_local_{secrets.token_hex(12)}",
        "object": "event",
        "api_version": API_VERSION,
        "created": int(time.time()),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }
    return json.dumps(event, indent=2).encode("utf-8")


def signature_header(payload: bytes, *, secret: str, timestamp: int | None = None) -> str:
    """Stripe's ``Stripe-Signature`` header: ``t=<unix time>,v1=<HMAC-SHA256 hex>`` over
    ``"<t>.<payload>"``."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode("utf-8"), f"{t}.".encode() + payload, hashlib.sha256)
    return f"t={t},v1={mac.hexdigest()}"


def delivery(kind: str, session: dict) -> tuple[bytes, str]:
    """The body and signature header of one webhook delivery for ``session``."""
    payload = event_for(kind, session)
    return payload, signature_header(payload, secret=settings.LOCAL_CHECKOUT_WEBHOOK_SECRET)
