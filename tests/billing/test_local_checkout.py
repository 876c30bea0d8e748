"""The local checkout: a top-up tried without Stripe, through the real webhook handler.

With DEBUG on and no Stripe keys, "Continue to payment" opens /billing/checkout/<session>;
"Pay" signs a ``checkout.session.completed`` event with the development secret and hands it
to ``payments.webhook_receive``, which verifies it like a delivery from Stripe.
"""

import hashlib
import hmac
import json
import re

import pytest
from django.contrib.messages import get_messages

from billing import local_checkout, payments
from billing.models import LedgerEntry, Payment, StripeEvent
from billing.selectors import wallet_for
from orgs.models import AuditEvent
from orgs.services import personal_org_get_or_create
from tests.accounts.factories import UserFactory

from .fake_stripe import deliver

pytestmark = pytest.mark.django_db

CREDIT = 1_000_000


@pytest.fixture
def local(settings):
    settings.DEBUG = True
    settings.LOCAL_CHECKOUT = True
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""
    return settings


def start_topup(client, usd: int = 25) -> str:
    response = client.post("/billing/topup", {"preset_usd": str(usd)})
    assert response.status_code == 302, response.content.decode()[:2000]
    assert re.fullmatch(r"/billing/checkout/cs_local_[0-9a-f]{32}", response.url), response.url
    return response.url


def balance_of(user) -> int:
    wallet = wallet_for(organization=personal_org_get_or_create(user=user))
    wallet.refresh_from_db()
    return wallet.balance_microcredits


def test_the_billing_page_offers_the_local_checkout(local, client_for):
    user = UserFactory()
    html = client_for(user).get("/billing").content.decode()
    assert 'data-testid="local-checkout-notice"' in html
    assert "Continue to payment" in html
    assert "STRIPE_SECRET_KEY" not in html


def test_continue_to_payment_creates_the_payment_and_shows_a_payment_step(local, client_for):
    user = UserFactory()
    client = client_for(user)
    url = start_topup(client, 25)
    session_id = url.rsplit("/", 1)[1]

    payment = Payment.objects.get()
    assert (payment.amount_cents, payment.credits, payment.status) == (
        2500,
        2500,
        Payment.Status.PENDING,
    )
    assert payment.checkout_session_id == session_id
    assert payment.created_by == user
    assert AuditEvent.objects.filter(action="billing.topup_started").count() == 1

    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert "$25.00" in html and "2,500 Hypereal credits" in html
    assert re.search(r'<button[^>]*value="pay"[^>]*>\s*Pay \$25\.00\s*</button>', html)
    assert re.search(r'<button[^>]*value="cancel"[^>]*>\s*Cancel\s*</button>', html)
    assert not LedgerEntry.objects.exists()


def test_pay_credits_the_wallet_through_the_webhook_handler(local, client_for, monkeypatch):
    user = UserFactory()
    client = client_for(user)
    url = start_topup(client, 25)
    payment = Payment.objects.get()

    received = []
    real_receive = payments.webhook_receive

    def spy(*, payload, signature):
        received.append((payload, signature))
        return real_receive(payload=payload, signature=signature)

    monkeypatch.setattr(payments, "webhook_receive", spy)
    response = client.post(url, {"action": "pay"})
    session_id = url.rsplit("/", 1)[1]
    assert response.status_code == 302
    assert response.url == f"/billing/topup/{payment.public_id}/success?session_id={session_id}"

    # One delivery, signed as Stripe signs: t=…,v1=HMAC-SHA256("{t}.{payload}").
    [(payload, signature)] = received
    t, v1 = re.fullmatch(r"t=(\d+),v1=([0-9a-f]{64})", signature).groups()
    expected = hmac.new(
        local.LOCAL_CHECKOUT_WEBHOOK_SECRET.encode(), f"{t}.".encode() + payload, hashlib.sha256
    ).hexdigest()
    assert hmac.compare_digest(v1, expected)
    event = json.loads(payload)
    assert event["type"] == "checkout.session.completed"
    session = event["data"]["object"]
    assert session["id"] == session_id
    assert (session["amount_total"], session["payment_status"]) == (2500, "paid")
    assert session["metadata"]["payment"] == payment.public_id

    stored = StripeEvent.objects.get()
    assert (stored.event_id, stored.status) == (event["id"], StripeEvent.Status.PROCESSED)
    [entry] = LedgerEntry.objects.all()
    assert (entry.kind, entry.amount_microcredits) == (LedgerEntry.Kind.TOPUP, 2500 * CREDIT)
    assert entry.idempotency_key == f"stripe:checkout:{session_id}"
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID
    assert payment.payment_intent_id.startswith("pi_local_")
    assert balance_of(user) == 2500 * CREDIT

    success = client.get(response.url).content.decode()
    assert "Credits added" in success and "2,500.00" in success

    # The session is closed: paying again changes nothing.
    again = client.post(url, {"action": "pay"})
    assert again.status_code == 302 and again.url == "/billing"
    assert LedgerEntry.objects.count() == 1 and balance_of(user) == 2500 * CREDIT


def test_a_bad_signature_is_refused_by_the_handler(local, client_for, monkeypatch):
    """The signature is verified, not bypassed: signed with another secret, nothing lands."""
    user = UserFactory()
    client = client_for(user)
    url = start_topup(client, 10)
    real_delivery = local_checkout.delivery

    def forged(kind, session):
        payload, _signature = real_delivery(kind, session)
        return payload, local_checkout.signature_header(payload, secret="whsec_someone_else")

    monkeypatch.setattr(local_checkout, "delivery", forged)
    response = client.post(url, {"action": "pay"})
    assert response.status_code == 302 and response.url == "/billing"
    assert [m.message for m in get_messages(response.wsgi_request)] == [
        "The payment could not be verified; nothing was added."
    ]
    assert not StripeEvent.objects.exists()
    assert not LedgerEntry.objects.exists()
    assert Payment.objects.get().status == Payment.Status.PENDING


def test_cancel_returns_to_billing_and_expires_the_payment(local, client_for):
    user = UserFactory()
    client = client_for(user)
    url = start_topup(client, 10)
    response = client.post(url, {"action": "cancel"})
    assert response.status_code == 302 and response.url == "/billing?topup=cancelled"
    assert Payment.objects.get().status == Payment.Status.EXPIRED
    assert StripeEvent.objects.get().type == "checkout.session.expired"
    assert not LedgerEntry.objects.exists()
    page = client.get(response.url).content.decode()
    assert "Top-up cancelled; nothing was charged." in page


def test_the_local_secret_signs_deliveries_to_the_webhook_url_only_while_enabled(local, client_for):
    user = UserFactory()
    client = client_for(user)
    url = start_topup(client, 10)
    session = local_checkout.session_complete(local_checkout.session_get(url.rsplit("/", 1)[1]))
    body = local_checkout.event_for("checkout.session.completed", session)
    secret = local.LOCAL_CHECKOUT_WEBHOOK_SECRET

    local.DEBUG = False  # as in production: the development secret is worth nothing
    refused = deliver(client, body, secret=secret)
    assert refused.status_code == 503  # no Stripe keys: the webhook is off altogether
    local.STRIPE_SECRET_KEY, local.STRIPE_WEBHOOK_SECRET = "sk_test_x", "whsec_real"
    refused = deliver(client, body, secret=secret)
    assert refused.status_code == 400
    assert refused.json()["error"]["type"] == "invalid_signature"
    assert not LedgerEntry.objects.exists()

    local.DEBUG, local.STRIPE_SECRET_KEY, local.STRIPE_WEBHOOK_SECRET = True, "", ""
    accepted = deliver(client, body, secret=secret)
    assert accepted.status_code == 200, accepted.content
    assert LedgerEntry.objects.get().amount_microcredits == 1000 * CREDIT


def test_another_wallets_session_is_a_404(local, client_for):
    owner = UserFactory()
    url = start_topup(client_for(owner), 10)
    stranger = client_for(UserFactory())
    assert stranger.get(url).status_code == 404
    assert stranger.post(url, {"action": "pay"}).status_code == 404
    assert client_for(owner).get("/billing/checkout/cs_local_" + "0" * 32).status_code == 404
    assert not LedgerEntry.objects.exists()


@pytest.mark.parametrize(("role", "status"), [("billing", 200), ("viewer", 403)])
def test_roles_in_an_organization(local, client_for, in_context, team_of, join, role, status):
    owner = UserFactory()
    org = team_of(owner)
    url = start_topup(in_context(owner, org), 10)
    member = join(org, role)
    client = in_context(member, org)
    assert client.get(url).status_code == status
    html = client.get("/billing").content.decode()
    has_controls = 'action="/billing/topup"' in html
    assert has_controls == (role == "billing")


@pytest.mark.parametrize("debug", [False, True])
def test_off_without_debug_or_with_stripe_keys(local, client_for, debug):
    """DEBUG off (production) or real Stripe keys: the page is a 404 and top-ups never
    reach it."""
    user = UserFactory()
    client = client_for(user)
    url = start_topup(client, 10)
    local.DEBUG = debug
    if debug:
        local.STRIPE_SECRET_KEY = "sk_test_x"
    assert not local_checkout.enabled()
    assert client.get(url).status_code == 404
    assert client.post(url, {"action": "pay"}).status_code == 404
    assert not LedgerEntry.objects.exists()


def test_production_flags_keep_it_off(local, client_for):
    local.DEBUG = False
    local.LOCAL_CHECKOUT = True
    user = UserFactory()
    client = client_for(user)
    response = client.post("/billing/topup", {"preset_usd": "25"})
    assert response.status_code == 400
    assert not Payment.objects.exists()
    assert "Top-ups are not available on this console yet." in response.content.decode()


# --- Stripe not configured, local checkout off -------------------------------------------


@pytest.mark.parametrize("staff", [False, True])
def test_ops_text_about_environment_variables_is_for_staff_only(client_for, settings, staff):
    settings.STRIPE_SECRET_KEY = settings.STRIPE_WEBHOOK_SECRET = ""
    settings.LOCAL_CHECKOUT = False
    user = UserFactory(is_staff=staff)
    client = client_for(user)
    page = client.get("/billing").content.decode()
    assert ("STRIPE_SECRET_KEY" in page) is staff
    assert ("Top-ups are not available on this console yet." in page) is not staff
    assert 'action="/billing/topup"' not in page

    refused = client.post("/billing/topup", {"preset_usd": "25"})
    assert refused.status_code == 400
    text = refused.content.decode()
    assert ("STRIPE_SECRET_KEY" in text) is staff
    assert not Payment.objects.exists()
