"""A $25 top-up in a real browser.

The owner signs in, opens Billing and clicks "$25". Stripe is the in-process fake
(tests/billing/fake_stripe.py) in "success" mode: the Checkout URL it returns is the
console's own success page, as if the payer had paid instantly, so the browser lands on
"Payment received — credits arriving". Then Stripe's side is played over real HTTP: a
correctly signed ``checkout.session.completed`` is POSTed to the live server's webhook URL,
and the page — polling with htmx — turns to "Credits added" with the new balance.
"""

import urllib.request

import pytest
from playwright.sync_api import expect

from billing import stripe_gateway
from billing.models import LedgerEntry, Payment, StripeEvent
from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.billing import fake_stripe as fs

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def stripe_fake(settings):
    settings.STRIPE_SECRET_KEY = fs.TEST_SECRET_KEY
    settings.STRIPE_WEBHOOK_SECRET = fs.TEST_WEBHOOK_SECRET
    fake = fs.FakeStripe(url_mode="success")
    stripe_gateway.set_http_client(fake)
    yield fake
    stripe_gateway.set_http_client(None)


def deliver_over_http(base_url: str, evt: dict) -> tuple[int, bytes]:
    body = fs.encode(evt)
    request = urllib.request.Request(  # noqa: S310 (the live server's http URL)
        f"{base_url}/billing/stripe/webhook",
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json; charset=utf-8",
            "Stripe-Signature": fs.signature_header(body),
            "User-Agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)",
        },
    )
    assert base_url.startswith("http://127.0.0.1") or base_url.startswith("http://localhost")
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 (live server)
        return response.status, response.read()


def test_owner_tops_up_25_dollars_and_the_page_shows_the_credits(
    page, live_server, stripe_fake, artifacts
):
    owner = UserFactory(email="owner@example.com")

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(owner.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("heading", name="Welcome", exact=False).wait_for()

    page.goto("/billing")
    expect(page.get_by_test_id("balance")).to_have_text("0.00 credits")
    page.get_by_role("button", name="$25", exact=True).click()

    # Back from "Checkout" on the console's success page: paid, not yet credited.
    expect(page.get_by_role("heading", name="Payment received — credits arriving")).to_be_visible()
    payment = Payment.objects.get()
    session = stripe_fake.last_session()
    assert (payment.amount_cents, payment.status) == (2500, Payment.Status.PENDING)
    assert page.url == (
        f"{live_server.url}/billing/topup/{payment.public_id}/success?session_id={session['id']}"
    )
    assert not LedgerEntry.objects.exists()

    # Stripe confirms, over HTTP, to the live server.
    status, body = deliver_over_http(
        live_server.url,
        fs.event("checkout.session.completed", stripe_fake.complete(session["id"])),
    )
    assert status == 200, body

    # The htmx poll (every 2 s) swaps in the result; no reload.
    status_card = page.locator("#topup-status")
    expect(status_card.get_by_role("heading", name="Credits added")).to_be_visible(timeout=10_000)
    expect(status_card).to_contain_text("2,500.00 credits are in your balance.")
    expect(status_card).to_contain_text("2,500.00 credits")
    expect(status_card).not_to_have_attribute("hx-trigger", "every 2s")
    page.screenshot(path=str(artifacts / "topup-success.png"), full_page=True)

    assert StripeEvent.objects.get().status == StripeEvent.Status.PROCESSED
    [entry] = LedgerEntry.objects.all()
    assert (entry.kind, entry.amount_microcredits) == ("topup", 2_500_000_000)

    page.get_by_role("link", name="Back to billing").click()
    expect(page.get_by_test_id("balance")).to_have_text("2,500.00 credits")
    expect(page.get_by_role("cell", name="$25.00", exact=True)).to_be_visible()
