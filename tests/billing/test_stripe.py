"""Stripe top-ups end to end: the real stripe-python talks to the in-process fake, and
correctly signed webhook deliveries go through the real /billing/stripe/webhook URL.

Credits arrive only from a verified webhook, exactly once, whatever the order or number of
deliveries.
"""

import json
import re
import time

import pytest
import stripe
from django.db import OperationalError
from django.http import QueryDict

from billing import payments, stripe_gateway
from billing.ledger import wallet_get_or_create as wallet_for
from billing.models import LedgerEntry, Payment, StripeEvent, Wallet
from hypereal_site.api.errors import ApplicationError
from orgs.models import AuditEvent
from orgs.services import personal_org_get_or_create
from tests.accounts.factories import UserFactory

from . import fake_stripe as fs

pytestmark = pytest.mark.django_db

CREDIT = 1_000_000  # µcr
FORM = "application/x-www-form-urlencoded"


def personal_wallet_of(user) -> Wallet:
    return wallet_for(organization=personal_org_get_or_create(user=user))


def balance(wallet: Wallet) -> int:
    return Wallet.objects.get(pk=wallet.pk).balance_microcredits


def entries(wallet: Wallet, kind: str | None = None):
    qs = LedgerEntry.objects.filter(wallet=wallet).order_by("id")
    return qs.filter(kind=kind) if kind else qs


@pytest.fixture
def owner(user):
    return user


@pytest.fixture
def web(in_context, owner):
    return in_context(owner)


@pytest.fixture
def topup(web, stripe_fake, owner):
    """Start a $25 top-up as the owner; returns (payment, the fake's session)."""

    def start(amount: str = "25", client=None):
        response = (client or web).post("/billing/topup", {"amount_usd": amount})
        assert response.status_code == 302, response.content.decode()[:2000]
        session = stripe_fake.last_session()
        assert response["Location"] == session["url"]
        return Payment.objects.get(checkout_session_id=session["id"]), session

    return start


def completed(stripe_fake, session, **kwargs) -> dict:
    return fs.event("checkout.session.completed", stripe_fake.complete(session["id"], **kwargs))


# --- the happy path -------------------------------------------------------------------


def test_topup_redirects_to_checkout_and_only_the_webhook_grants_credits(
    web, owner, stripe_fake, topup
):
    wallet = personal_wallet_of(owner)
    payment, session = topup("25")

    # What reached Stripe: a one-off $25.00 payment, tied to this payment and wallet.
    [request] = stripe_fake.checkout_requests
    params = request.params
    assert params["mode"] == "payment"
    [line] = params["line_items"]
    assert line["quantity"] == "1"
    assert line["price_data"]["unit_amount"] == "2500"
    assert line["price_data"]["currency"] == "usd"
    assert params["metadata"] == {
        "payment": payment.public_id,
        "wallet": wallet.public_id,
        "credits": "2500",
    }
    assert params["payment_intent_data"]["metadata"] == params["metadata"]
    assert params["client_reference_id"] == payment.public_id
    assert params["customer_email"] == owner.email
    assert params["success_url"].endswith(
        f"/billing/topup/{payment.public_id}/success?session_id={{CHECKOUT_SESSION_ID}}"
    )
    assert request.idempotency_key == f"checkout:{payment.public_id}"
    assert request.headers["Authorization"] == f"Bearer {fs.TEST_SECRET_KEY}"

    assert payment.status == Payment.Status.PENDING
    assert (payment.amount_cents, payment.credits, payment.wallet_id) == (2500, 2500, wallet.pk)
    assert AuditEvent.objects.filter(action="billing.topup_started").count() == 1

    # Back from Checkout, before the webhook: nothing granted, the page polls.
    success_url = f"/billing/topup/{payment.public_id}/success?session_id={session['id']}"
    page = web.get(success_url)
    assert page.status_code == 200
    text = page.content.decode()
    assert "Payment received — credits arriving" in text
    assert "2,500.00 credits will appear here" in text
    assert 'hx-trigger="every 2s"' in text
    assert balance(wallet) == 0
    assert not entries(wallet).exists()

    # Stripe confirms.
    response = fs.deliver(web, completed(stripe_fake, session))
    assert response.status_code == 200, response.content
    assert response.json() == {"received": True, "status": "processed"}
    assert balance(wallet) == 2_500 * CREDIT == 2_500_000_000
    [entry] = entries(wallet)
    assert entry.kind == LedgerEntry.Kind.TOPUP
    assert entry.amount_microcredits == 2_500_000_000
    assert entry.balance_after_microcredits == 2_500_000_000
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert payment.paid_at is not None
    assert payment.payment_intent_id == stripe_fake.sessions[session["id"]]["payment_intent"]
    assert AuditEvent.objects.filter(action="billing.topup_paid").count() == 1

    # The full page now says so; the htmx poll gets the partial alone, with no more polling.
    text = web.get(success_url).content.decode()
    assert "Credits added" in text and "2,500.00" in text
    partial = web.get(success_url, headers={"HX-Request": "true"})
    body = partial.content.decode()
    assert partial.status_code == 200
    assert body.lstrip().startswith('<section class="card" id="topup-status"')
    assert "<html" not in body and "<nav" not in body
    assert "Credits added" in body and "2,500.00" in body
    assert "hx-trigger" not in body

    # The billing page shows the payment and the balance in credits and dollars.
    overview = web.get("/billing").content.decode()
    assert "2,500.00" in overview and "$25.00" in overview


def test_preset_button_wins_over_the_empty_amount_field(web, stripe_fake):
    """A browser clicking "$25" sends the button's value and the (empty) amount input."""
    response = web.post("/billing/topup", {"preset_usd": "25", "amount_usd": ""})
    assert response.status_code == 302, response.content.decode()[:3000]
    [request] = stripe_fake.checkout_requests
    assert request.params["line_items"][0]["price_data"]["unit_amount"] == "2500"


def test_preset_button_wins_over_a_typed_amount(web, stripe_fake):
    response = web.post("/billing/topup", {"preset_usd": "100", "amount_usd": "7"})
    assert response.status_code == 302
    assert stripe_fake.checkout_requests[0].params["metadata"]["credits"] == "10000"


def test_each_preset_button_on_the_page_posts_its_amount(web, stripe_fake):
    """Replays what the page's own buttons submit, in document order, as a browser does."""
    html = web.get("/billing").content.decode()
    buttons = re.findall(r'<button type="submit" name="(\w+)" value="(\d+)"', html)
    assert [value for _name, value in buttons] == ["10", "25", "100"]
    [field] = re.findall(r'<input type="number" name="(\w+)"', html)
    for name, value in buttons:
        data = QueryDict(mutable=True)
        data.appendlist(name, value)
        data.appendlist(field, "")
        response = web.post("/billing/topup", data.urlencode(), content_type=FORM)
        assert response.status_code == 302, response.content.decode()[:3000]
    assert [
        r.params["line_items"][0]["price_data"]["unit_amount"]
        for r in stripe_fake.checkout_requests
    ] == ["1000", "2500", "10000"]


# --- duplicates and ordering ---------------------------------------------------------------


def test_duplicate_delivery_of_one_event_changes_nothing_twice(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    evt = completed(stripe_fake, session)
    for _ in range(3):
        response = fs.deliver(web, evt)
        assert response.status_code == 200
    assert StripeEvent.objects.count() == 1
    stored = StripeEvent.objects.get()
    assert (stored.event_id, stored.status, stored.attempts) == (
        evt["id"],
        StripeEvent.Status.PROCESSED,
        1,
    )
    assert balance(wallet) == 2_500 * CREDIT
    assert entries(wallet).count() == 1
    assert AuditEvent.objects.filter(action="billing.topup_paid").count() == 1


def test_a_second_event_for_the_same_session_credits_once(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    paid = stripe_fake.complete(session["id"])
    assert fs.deliver(web, fs.event("checkout.session.completed", paid)).status_code == 200
    # Stripe (or an operator replaying from the dashboard) sends a new event id.
    assert fs.deliver(web, fs.event("checkout.session.completed", paid)).status_code == 200
    assert StripeEvent.objects.filter(status=StripeEvent.Status.PROCESSED).count() == 2
    assert balance(wallet) == 2_500 * CREDIT
    assert entries(wallet).count() == 1


@pytest.mark.parametrize("async_first", [True, False], ids=["async-first", "completed-first"])
def test_delayed_payment_method_in_either_order(web, owner, stripe_fake, topup, async_first):
    wallet = personal_wallet_of(owner)
    payment, session = topup("40")
    # A bank debit: Checkout completes unpaid, the money settles later.
    pending = fs.event(
        "checkout.session.completed", stripe_fake.complete(session["id"], payment_status="unpaid")
    )
    settled = fs.event(
        "checkout.session.async_payment_succeeded",
        stripe_fake.async_settle(session["id"], succeeded=True),
    )
    order = [settled, pending] if async_first else [pending, settled]
    statuses = []
    for evt in order:
        response = fs.deliver(web, evt)
        assert response.status_code == 200
        statuses.append(response.json()["status"])
        payment.refresh_from_db()
        if evt is pending and not async_first:
            # Completed but unpaid: no credits yet, the payment still waits.
            assert payment.status == Payment.Status.PENDING
            assert balance(wallet) == 0
    assert statuses == (["processed", "ignored"] if async_first else ["ignored", "processed"])
    assert payment.status == Payment.Status.PAID
    assert balance(wallet) == 4_000 * CREDIT
    assert entries(wallet).count() == 1


def test_completed_paid_and_async_succeeded_both_arrive_credit_once(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    paid = stripe_fake.complete(session["id"])
    fs.deliver(web, fs.event("checkout.session.async_payment_succeeded", paid))
    fs.deliver(web, fs.event("checkout.session.completed", paid))
    assert balance(wallet) == 2_500 * CREDIT
    assert entries(wallet, LedgerEntry.Kind.TOPUP).count() == 1


def test_async_payment_failed_marks_the_payment_failed_and_grants_nothing(
    web, owner, stripe_fake, topup
):
    wallet = personal_wallet_of(owner)
    payment, session = topup("25")
    unpaid = stripe_fake.complete(session["id"], payment_status="unpaid")
    fs.deliver(web, fs.event("checkout.session.completed", unpaid))
    failed = stripe_fake.async_settle(session["id"], succeeded=False)
    response = fs.deliver(web, fs.event("checkout.session.async_payment_failed", failed))
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.FAILED
    assert balance(wallet) == 0 and not entries(wallet).exists()
    page = web.get(f"/billing/topup/{payment.public_id}/success").content.decode()
    assert "Payment not completed" in page and "Failed" in page
    assert 'hx-trigger="every 2s"' not in page


def test_expired_session_marks_the_payment_expired(web, owner, stripe_fake, topup):
    payment, session = topup("25")
    response = fs.deliver(
        web, fs.event("checkout.session.expired", stripe_fake.expire(session["id"]))
    )
    assert response.status_code == 200
    payment.refresh_from_db()
    assert payment.status == Payment.Status.EXPIRED
    assert balance(personal_wallet_of(owner)) == 0


def test_expired_after_paid_does_not_unpay(web, owner, stripe_fake, topup):
    payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    fs.deliver(web, fs.event("checkout.session.expired", stripe_fake.sessions[session["id"]]))
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert balance(personal_wallet_of(owner)) == 2_500 * CREDIT


# --- refunds -------------------------------------------------------------------------------


def _charge_without_our_metadata(charge: dict) -> dict:
    charge = dict(charge, metadata={})
    return charge


def test_refund_before_the_payment_is_known_fails_and_succeeds_on_redelivery(
    web, owner, stripe_fake, topup
):
    """The charge names only its payment intent, which the console learns from the
    completion event: until then the refund cannot be placed, is recorded as failed, and
    Stripe's redelivery applies it."""
    wallet = personal_wallet_of(owner)
    payment, session = topup("25")
    paid = stripe_fake.complete(session["id"])
    charge = _charge_without_our_metadata(
        stripe_fake.refund(stripe_fake.charge_of(session["id"])["id"], 1000)
    )
    refund_event = fs.event("charge.refunded", charge)

    response = fs.deliver(web, refund_event)
    assert response.status_code == 500
    assert response.json()["error"]["type"] == "handler_failed"
    stored = StripeEvent.objects.get(event_id=refund_event["id"])
    assert stored.status == StripeEvent.Status.FAILED
    assert "no payment" in stored.error and stored.attempts == 1
    assert not entries(wallet).exists()

    assert fs.deliver(web, fs.event("checkout.session.completed", paid)).status_code == 200
    response = fs.deliver(web, refund_event)  # Stripe retries the same event
    assert response.status_code == 200, response.content
    stored.refresh_from_db()
    assert (stored.status, stored.error, stored.attempts) == (StripeEvent.Status.PROCESSED, "", 2)
    assert balance(wallet) == (2_500 - 1_000) * CREDIT
    assert [e.kind for e in entries(wallet)] == ["topup", "refund"]
    payment.refresh_from_db()
    assert payment.refunded_cents == 1000


def test_refund_carrying_our_metadata_before_completion_nets_out(web, owner, stripe_fake, topup):
    """With the payment's id in the charge metadata the refund is placed at once (the
    balance may dip below zero) and the completion credit still lands exactly once."""
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    paid = stripe_fake.complete(session["id"])
    charge = stripe_fake.refund(stripe_fake.charge_of(session["id"])["id"], 2500)
    assert fs.deliver(web, fs.event("charge.refunded", charge)).status_code == 200
    assert balance(wallet) == -2_500 * CREDIT
    assert fs.deliver(web, fs.event("checkout.session.completed", paid)).status_code == 200
    assert balance(wallet) == 0
    assert sorted(e.kind for e in entries(wallet)) == ["refund", "topup"]


def test_partial_then_full_refund_debits_each_refund_exactly_once(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    charge_id = stripe_fake.charge_of(session["id"])["id"]

    first = stripe_fake.refund(charge_id, 700)
    assert fs.deliver(web, fs.event("charge.refunded", first)).status_code == 200
    assert balance(wallet) == (2_500 - 700) * CREDIT

    second = stripe_fake.refund(charge_id, 1_800)  # the rest
    assert second["amount_refunded"] == 2_500 and second["refunded"] is True
    assert [r["amount"] for r in second["refunds"]["data"]] == [1_800, 700]
    assert fs.deliver(web, fs.event("charge.refunded", second)).status_code == 200
    assert balance(wallet) == 0

    # A late redelivery of the first event and a fresh event listing both: nothing moves.
    assert fs.deliver(web, fs.event("charge.refunded", first)).status_code == 200
    assert fs.deliver(web, fs.event("charge.refunded", second)).status_code == 200
    refunds = entries(wallet, LedgerEntry.Kind.REFUND)
    assert sorted(e.amount_microcredits for e in refunds) == [-1_800 * CREDIT, -700 * CREDIT]
    assert {e.reference for e in refunds} == {r["id"] for r in second["refunds"]["data"]}
    assert balance(wallet) == 0
    payment.refresh_from_db()
    assert payment.refunded_cents == 2_500


def test_refund_events_without_the_refund_list_debit_the_growth_once(
    web, owner, stripe_fake, topup
):
    """Newer API versions do not embed ``refunds`` in the charge: the growth of
    ``amount_refunded`` is what is new."""
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    charge_id = stripe_fake.charge_of(session["id"])["id"]
    first = stripe_fake.refund(charge_id, 500)
    second = stripe_fake.refund(charge_id, 300)
    for charge in (first, second, first, second):
        bare = {k: v for k, v in charge.items() if k != "refunds"}
        assert fs.deliver(web, fs.event("charge.refunded", bare)).status_code == 200
    assert balance(wallet) == (2_500 - 800) * CREDIT
    assert sum(e.amount_microcredits for e in entries(wallet, "refund")) == -800 * CREDIT


def test_pending_refund_is_not_debited_until_it_succeeds(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    charge_id = stripe_fake.charge_of(session["id"])["id"]
    charge = stripe_fake.refund(charge_id, 900, status="pending")
    assert fs.deliver(web, fs.event("charge.refunded", charge)).status_code == 200
    assert balance(wallet) == 2_500 * CREDIT


# --- disputes ------------------------------------------------------------------------------


def _paid_charge(web, stripe_fake, topup):
    payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    return payment, stripe_fake.charge_of(session["id"])["id"]


def test_dispute_won_nets_to_zero(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    payment, charge_id = _paid_charge(web, stripe_fake, topup)
    opened = fs.event(
        "charge.dispute.created", stripe_fake.dispute(charge_id, status="needs_response")
    )
    assert fs.deliver(web, opened).status_code == 200
    assert balance(wallet) == 0
    payment.refresh_from_db()
    assert payment.disputed_cents == 2_500
    assert "Disputed" in web.get("/billing").content.decode()

    won = fs.event("charge.dispute.closed", stripe_fake.dispute(charge_id, status="won"))
    assert fs.deliver(web, won).status_code == 200
    assert fs.deliver(web, won).status_code == 200  # redelivered
    assert fs.deliver(web, opened).status_code == 200  # late duplicate of the opening
    assert balance(wallet) == 2_500 * CREDIT
    assert [e.kind for e in entries(wallet)] == ["topup", "dispute", "dispute_reversal"]
    payment.refresh_from_db()
    assert payment.disputed_cents == 0


def test_dispute_lost_keeps_only_the_debit(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, charge_id = _paid_charge(web, stripe_fake, topup)
    fs.deliver(
        web,
        fs.event("charge.dispute.created", stripe_fake.dispute(charge_id, status="needs_response")),
    )
    lost = fs.event("charge.dispute.closed", stripe_fake.dispute(charge_id, status="lost"))
    assert fs.deliver(web, lost).status_code == 200
    assert balance(wallet) == 0
    assert [e.kind for e in entries(wallet)] == ["topup", "dispute"]


def test_dispute_closed_won_before_created_still_nets_to_zero(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, charge_id = _paid_charge(web, stripe_fake, topup)
    opened = fs.event(
        "charge.dispute.created", stripe_fake.dispute(charge_id, status="needs_response")
    )
    won = fs.event("charge.dispute.closed", stripe_fake.dispute(charge_id, status="won"))
    fs.deliver(web, won)
    fs.deliver(web, opened)
    assert balance(wallet) == 2_500 * CREDIT
    assert entries(wallet).count() == 3


@pytest.mark.parametrize("closed_as", ["warning_closed", "lost"])
def test_a_dispute_inquiry_takes_nothing(web, owner, stripe_fake, topup, closed_as):
    """An inquiry (warning_* status) moves no money at Stripe, so none moves here either."""
    wallet = personal_wallet_of(owner)
    _payment, charge_id = _paid_charge(web, stripe_fake, topup)
    inquiry = fs.event(
        "charge.dispute.created",
        stripe_fake.dispute(charge_id, status="warning_needs_response"),
    )
    assert fs.deliver(web, inquiry).status_code == 200
    closed = fs.event("charge.dispute.closed", stripe_fake.dispute(charge_id, status=closed_as))
    assert fs.deliver(web, closed).status_code == 200
    assert balance(wallet) == 2_500 * CREDIT
    assert [e.kind for e in entries(wallet)] == ["topup"]


def test_refunds_and_disputes_are_audited_once(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    _payment, charge_id = _paid_charge(web, stripe_fake, topup)
    opened = fs.event(
        "charge.dispute.created", stripe_fake.dispute(charge_id, status="needs_response")
    )
    won = fs.event("charge.dispute.closed", stripe_fake.dispute(charge_id, status="won"))
    for event in (opened, opened, won, won):
        fs.deliver(web, event)
    actions = list(
        AuditEvent.objects.filter(organization=wallet.organization, action__startswith="billing.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions.count("billing.dispute_opened") == 1
    assert actions.count("billing.dispute_reinstated") == 1


# --- signatures and bad deliveries ------------------------------------------------------------


@pytest.fixture
def paid_event(web, stripe_fake, topup):
    _payment, session = topup("25")
    return completed(stripe_fake, session)


def _nothing_stored(owner):
    assert not StripeEvent.objects.exists()
    assert balance(personal_wallet_of(owner)) == 0


def test_wrong_secret_is_refused_and_nothing_stored(web, owner, paid_event):
    response = fs.deliver(web, paid_event, secret="whsec_someone_else")
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_signature"
    _nothing_stored(owner)


def test_tampered_body_is_refused(web, owner, paid_event):
    body = fs.encode(paid_event)
    header = fs.signature_header(body)
    evil = body.replace(b'"amount_total": 2500', b'"amount_total": 250000')
    assert evil != body
    response = fs.deliver(web, evil, signature=header)
    assert response.status_code == 400
    _nothing_stored(owner)


def test_missing_signature_header_is_refused(web, owner, paid_event):
    response = web.post(
        "/billing/stripe/webhook", data=fs.encode(paid_event), content_type="application/json"
    )
    assert response.status_code == 400
    _nothing_stored(owner)


def test_stale_timestamp_is_refused(web, owner, paid_event):
    old = int(time.time()) - stripe_gateway.WEBHOOK_TOLERANCE_SECONDS - 5
    response = fs.deliver(web, paid_event, timestamp=old)
    assert response.status_code == 400
    _nothing_stored(owner)
    # Just inside the tolerance is accepted.
    recent = int(time.time()) - stripe_gateway.WEBHOOK_TOLERANCE_SECONDS + 30
    assert fs.deliver(web, paid_event, timestamp=recent).status_code == 200


@pytest.mark.parametrize(
    "body",
    [b"this is not json", b"\xff\xfe not utf-8", b"[1, 2, 3]", b'{"type": "charge.refunded"}'],
    ids=["text", "binary", "array", "no-id"],
)
def test_signed_body_that_is_not_an_event_is_a_400(web, stripe_fake, body):
    header = fs.signature_header(body)  # correctly signed: only the content is wrong
    response = fs.deliver(web, body, signature=header)
    assert response.status_code == 400, response.content
    assert response.json()["error"]["type"] == "invalid_payload"
    assert not StripeEvent.objects.exists()


def test_unhandled_event_type_is_stored_as_ignored(web, stripe_fake):
    evt = fs.event("customer.created", {"id": "cus_test_1", "object": "customer"})
    response = fs.deliver(web, evt)
    assert response.status_code == 200
    assert StripeEvent.objects.get().status == StripeEvent.Status.IGNORED


def test_get_on_the_webhook_is_not_allowed(web, stripe_fake):
    assert web.get("/billing/stripe/webhook").status_code == 405


# --- handler failures -----------------------------------------------------------------------


def test_amount_mismatch_is_a_500_recorded_on_the_event_and_never_credits(
    web, owner, stripe_fake, topup
):
    wallet = personal_wallet_of(owner)
    payment, session = topup("25")
    paid = stripe_fake.complete(session["id"])
    evt = fs.event("checkout.session.completed", dict(paid, amount_total=99))
    response = fs.deliver(web, evt)
    assert response.status_code == 500, response.content
    assert response.json()["error"]["type"] == "handler_failed"
    stored = StripeEvent.objects.get(event_id=evt["id"])
    assert stored.status == StripeEvent.Status.FAILED
    assert "paid 99¢, expected 2500¢" in stored.error
    # Redelivered: tried again (and still refused).
    assert fs.deliver(web, evt).status_code == 500
    stored.refresh_from_db()
    assert stored.attempts == 2
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PENDING
    assert balance(wallet) == 0 and not entries(wallet).exists()


def test_transient_handler_failure_is_retried_by_redelivery(
    web, owner, stripe_fake, topup, monkeypatch
):
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    evt = completed(stripe_fake, session)
    real = payments.ledger_post_in_transaction
    calls = {"n": 0}

    def flaky(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("could not serialize access")
        return real(**kwargs)

    monkeypatch.setattr(payments, "ledger_post_in_transaction", flaky)
    assert fs.deliver(web, evt).status_code == 500
    stored = StripeEvent.objects.get()
    assert stored.status == StripeEvent.Status.FAILED
    assert "OperationalError" in stored.error
    assert balance(wallet) == 0
    assert Payment.objects.get().status == Payment.Status.PENDING  # rolled back with it

    assert fs.deliver(web, evt).status_code == 200
    stored.refresh_from_db()
    assert (stored.status, stored.error, stored.attempts) == (StripeEvent.Status.PROCESSED, "", 2)
    assert balance(wallet) == 2_500 * CREDIT


def test_event_for_an_unknown_payment_fails_visibly(web, stripe_fake):
    session = {
        "id": "cs_test_unknown",
        "object": "checkout.session",
        "amount_total": 2500,
        "metadata": {"payment": "nope"},
        "payment_status": "paid",
        "payment_intent": "pi_test_x",
    }
    response = fs.deliver(web, fs.event("checkout.session.completed", session))
    assert response.status_code == 500
    assert StripeEvent.objects.get().status == StripeEvent.Status.FAILED


def test_session_id_must_match_the_payment(web, owner, stripe_fake, topup):
    """A valid payment id with some other session's id (a replay from another checkout)
    grants nothing."""
    _payment, session = topup("25")
    paid = stripe_fake.complete(session["id"])
    response = fs.deliver(
        web, fs.event("checkout.session.completed", dict(paid, id="cs_test_other"))
    )
    assert response.status_code == 500
    assert balance(personal_wallet_of(owner)) == 0


# --- starting a top-up: validation, roles, configuration, Stripe failures ----------------------


@pytest.mark.parametrize(
    "amount, message",
    [
        ("1.99", "The minimum top-up is $2 (200 credits)."),
        ("0", "The minimum top-up is $2"),
        ("-5", "The minimum top-up is $2"),
        ("10000.01", "The maximum top-up is $10,000."),
        ("twenty", "Enter a number."),
        ("", "This field is required."),
        ("2.005", "Ensure that there are no more than 2 decimal places."),
    ],
)
def test_invalid_amounts_are_form_errors_and_stripe_is_not_called(
    web, stripe_fake, amount, message
):
    response = web.post("/billing/topup", {"amount_usd": amount})
    assert response.status_code == 400
    assert message in response.content.decode()
    assert stripe_fake.requests == []
    assert not Payment.objects.exists()


def test_boundaries_are_accepted(web, stripe_fake, topup):
    low, _ = topup("2")
    high, _ = topup("10000")
    assert (low.amount_cents, high.amount_cents) == (200, 1_000_000)
    assert high.credits == 1_000_000


def test_cents_are_kept_exactly(web, stripe_fake, topup):
    payment, _ = topup("19.99")
    assert (payment.amount_cents, payment.credits) == (1999, 1999)
    assert (
        stripe_fake.checkout_requests[0].params["line_items"][0]["price_data"]["unit_amount"]
        == "1999"
    )


@pytest.mark.parametrize("role", ["owner", "billing"])
def test_roles_that_manage_billing_top_up_the_org_wallet(
    owner, team_of, join, in_context, stripe_fake, role
):
    org = team_of(owner)
    user = owner if role == "owner" else join(org, role)
    client = in_context(user, org)
    response = client.post("/billing/topup", {"amount_usd": "30"})
    assert response.status_code == 302
    payment = Payment.objects.get()
    assert payment.wallet.organization == org
    fs.deliver(client, completed(stripe_fake, stripe_fake.last_session()))
    assert balance(wallet_for(organization=org)) == 3_000 * CREDIT
    assert balance(personal_wallet_of(user)) == 0


@pytest.mark.parametrize("role", ["admin", "developer", "viewer"])
def test_roles_without_billing_manage_get_403_on_topup(
    owner, team_of, join, in_context, stripe_fake, role
):
    org = team_of(owner)
    client = in_context(join(org, role), org)
    assert client.post("/billing/topup", {"amount_usd": "25"}).status_code == 403
    assert stripe_fake.requests == [] and not Payment.objects.exists()


@pytest.mark.parametrize(
    "role, status", [("admin", 200), ("billing", 200), ("viewer", 200), ("developer", 403)]
)
def test_who_may_view_billing(owner, team_of, join, in_context, stripe_fake, role, status):
    org = team_of(owner)
    client = in_context(join(org, role), org)
    response = client.get("/billing")
    assert response.status_code == status
    if status == 200:
        text = response.content.decode()
        can_manage = role == "billing"
        assert ('action="/billing/topup"' in text) is can_manage
        assert ("Your role can view billing but not top up" in text) is not can_manage


def test_success_page_of_another_wallets_payment_is_404(owner, in_context, stripe_fake, topup):
    payment, _ = topup("25")
    stranger = in_context(UserFactory())
    assert stranger.get(f"/billing/topup/{payment.public_id}/success").status_code == 404
    assert stranger.get("/billing/topup/doesnotexist/success").status_code == 404


def test_success_page_in_another_context_is_404(owner, team_of, in_context, stripe_fake, topup):
    payment, _ = topup("25")  # personal
    org = team_of(owner)
    client = in_context(owner, org)
    assert client.get(f"/billing/topup/{payment.public_id}/success").status_code == 404


def test_anonymous_topup_is_sent_to_login(client, stripe_fake):
    response = client.post("/billing/topup", {"amount_usd": "25"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
    assert stripe_fake.requests == []


def test_cancelled_checkout_says_nothing_was_charged(web, stripe_fake):
    text = web.get("/billing?topup=cancelled").content.decode()
    assert "Top-up cancelled; nothing was charged." in text


def test_not_configured_shows_the_notice_refuses_topups_and_the_webhook(web, owner, settings):
    owner.is_staff = True  # the environment variables are named to staff only
    owner.save(update_fields=["is_staff"])
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    page = web.get("/billing")
    assert page.status_code == 200
    text = page.content.decode()
    assert "Top-ups are not configured" in text
    assert "STRIPE_SECRET_KEY" in text and "STRIPE_WEBHOOK_SECRET" in text
    assert 'action="/billing/topup"' not in text

    response = web.post("/billing/topup", {"amount_usd": "25"})
    assert response.status_code == 400
    text = response.content.decode()
    assert "Top-ups are not configured" in text and "STRIPE_SECRET_KEY" in text
    assert not Payment.objects.exists()

    evt = fs.event("checkout.session.completed", {"id": "cs_test_x"})
    response = fs.deliver(web, evt)
    assert response.status_code == 503
    assert response.json()["error"]["type"] == "stripe_not_configured"
    assert not StripeEvent.objects.exists()


def test_half_configured_counts_as_not_configured(web, settings):
    settings.STRIPE_SECRET_KEY = fs.TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = ""
    assert "Top-ups are not available" in web.get("/billing").content.decode()
    assert web.post("/billing/topup", {"amount_usd": "25"}).status_code == 400


@pytest.mark.parametrize(
    "status, kwargs",
    [
        (500, {}),
        (402, {"code": "card_declined", "message": "Your card was declined."}),
        (401, {"message": "Invalid API Key provided: sk_test_****"}),
        (429, {"error_type": "rate_limit_error", "message": "Too many requests"}),
    ],
    ids=["api-error", "card-error", "auth-error", "rate-limited"],
)
def test_stripe_api_failure_is_a_clear_form_error_and_leaves_no_payment(
    web, owner, stripe_fake, status, kwargs
):
    stripe_fake.fail_with(status, **kwargs)
    response = web.post("/billing/topup", {"amount_usd": "25"})
    assert response.status_code == 400
    assert "Stripe could not start the payment. Try again in a moment." in response.content.decode()
    assert len(stripe_fake.requests) == 1  # Stripe said not to retry
    assert not Payment.objects.exists()
    assert not AuditEvent.objects.filter(action="billing.topup_started").exists()
    assert balance(personal_wallet_of(owner)) == 0


def test_a_retried_create_reuses_the_idempotency_key(web, stripe_fake):
    """stripe-python retries a 5xx that Stripe marks retryable, with the same key: one
    session, one payment."""
    stripe_fake.fail_with(500, times=1, should_retry=True)
    response = web.post("/billing/topup", {"amount_usd": "25"})
    assert response.status_code == 302
    first, second = stripe_fake.checkout_requests
    assert (first.status, second.status) == (500, 200)
    assert first.idempotency_key == second.idempotency_key
    assert len(stripe_fake.sessions) == 1
    assert Payment.objects.get().checkout_session_id == stripe_fake.last_session()["id"]


def test_the_fake_replays_the_response_for_a_used_idempotency_key(stripe_fake):
    params = {
        "mode": "payment",
        "line_items": [
            {
                "quantity": 1,
                "price_data": {
                    "currency": "usd",
                    "unit_amount": 500,
                    "product_data": {"name": "x"},
                },
            }
        ],
        "success_url": "https://console.test/ok?session_id={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://console.test/cancel",
        "metadata": {"payment": "p1"},
    }
    one = stripe_gateway.checkout_session_create(params=params, idempotency_key="k-1")
    two = stripe_gateway.checkout_session_create(params=params, idempotency_key="k-1")
    three = stripe_gateway.checkout_session_create(params=params, idempotency_key="k-2")
    assert one == two and one["id"] != three["id"]
    assert one["metadata"] == {"payment": "p1"} and one["amount_total"] == 500
    assert one["id"].startswith("cs_test_") and one["url"].startswith(
        "https://checkout.stripe.com/"
    )
    assert len(stripe_fake.sessions) == 2


def test_signature_helper_matches_stripe_python(stripe_fake):
    """The fake signs as Stripe does: stripe-python's own verifier accepts it."""
    body = json.dumps({"id": "evt_1"})
    header = fs.signature_header(body)
    assert stripe.WebhookSignature.verify_header(body, header, fs.TEST_WEBHOOK_SECRET, 300)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.WebhookSignature.verify_header(body, header, "whsec_other", 300)


def test_topup_service_refuses_amounts_outside_the_limits(owner, stripe_fake):
    wallet = personal_wallet_of(owner)
    for cents in (199, 1_000_001):
        with pytest.raises(ApplicationError, match=r"Top up between \$2 and \$10,000"):
            payments.topup_start(wallet=wallet, actor=owner, amount_cents=cents)
    assert stripe_fake.requests == [] and not Payment.objects.exists()


def test_refund_event_formats_can_mix_without_double_debit(web, owner, stripe_fake, topup):
    """The same refund seen first without the embedded list (growth of amount_refunded),
    then with it (an API-version change on the endpoint) is still one debit."""
    wallet = personal_wallet_of(owner)
    _payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    charge = stripe_fake.refund(stripe_fake.charge_of(session["id"])["id"], 600)
    bare = {k: v for k, v in charge.items() if k != "refunds"}
    assert fs.deliver(web, fs.event("charge.refunded", bare)).status_code == 200
    assert fs.deliver(web, fs.event("charge.refunded", charge)).status_code == 200
    assert balance(wallet) == (2_500 - 600) * CREDIT


def test_refund_formats_mixed_the_other_way_round(web, owner, stripe_fake, topup):
    wallet = personal_wallet_of(owner)
    payment, session = topup("25")
    fs.deliver(web, completed(stripe_fake, session))
    charge_id = stripe_fake.charge_of(session["id"])["id"]
    first = stripe_fake.refund(charge_id, 600)
    assert fs.deliver(web, fs.event("charge.refunded", first)).status_code == 200
    second = stripe_fake.refund(charge_id, 300)
    bare = {k: v for k, v in second.items() if k != "refunds"}
    for evt in (bare, second, first, bare):
        assert fs.deliver(web, fs.event("charge.refunded", evt)).status_code == 200
    assert balance(wallet) == (2_500 - 900) * CREDIT
    payment.refresh_from_db()
    assert payment.refunded_cents == 900
