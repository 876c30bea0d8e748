"""The thin edge to Stripe. Tests install an in-process fake with ``set_http_client``.

In development without Stripe keys, the local checkout (``billing.local_checkout``) answers
in Stripe's place and its events are signed with ``LOCAL_CHECKOUT_WEBHOOK_SECRET``.
"""

import json

import stripe
from django.conf import settings

from . import local_checkout

_http_client: stripe.HTTPClient | None = None

WEBHOOK_TOLERANCE_SECONDS = 300


def set_http_client(client: stripe.HTTPClient | None) -> None:
    global _http_client
    _http_client = client


def is_configured() -> bool:
    """Top-ups can be taken: Stripe's keys are set, or the local checkout stands in."""
    return stripe_configured() or local_checkout.enabled()


def stripe_configured() -> bool:
    return bool(settings.STRIPE_SECRET_KEY and settings.STRIPE_WEBHOOK_SECRET)


def webhook_secret() -> str:
    if local_checkout.enabled():
        return settings.LOCAL_CHECKOUT_WEBHOOK_SECRET
    return settings.STRIPE_WEBHOOK_SECRET


def _client() -> stripe.StripeClient:
    return stripe.StripeClient(
        settings.STRIPE_SECRET_KEY, http_client=_http_client, max_network_retries=2
    )


def checkout_session_create(*, params: dict, idempotency_key: str) -> dict:
    if local_checkout.enabled():
        return local_checkout.session_create(params)
    session = _client().v1.checkout.sessions.create(
        params=params, options={"idempotency_key": idempotency_key}
    )
    return session.to_dict() if hasattr(session, "to_dict") else dict(session)


def webhook_event(*, payload: bytes, signature: str | None) -> dict:
    """Verify the signature over the raw body and return the event as a plain dict.

    Raises ``stripe.SignatureVerificationError`` for a bad or stale signature and
    ``ValueError`` for a body that is not JSON.
    """
    stripe.WebhookSignature.verify_header(
        payload.decode("utf-8"),
        signature or "",
        webhook_secret(),
        WEBHOOK_TOLERANCE_SECONDS,
    )
    event = json.loads(payload)
    # Signed but not an event (an array, an object without an id): a bad payload, refused
    # before anything is stored, like a body that is not JSON.
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event["id"]:
        raise ValueError("not a Stripe event")
    return event
