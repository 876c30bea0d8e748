"""A top-up without Stripe, in a real browser: billing → $25 → the local checkout → Pay →
the success page shows the credits, and the ledger and balance agree with the database.

Settings are those of ``make run``: DEBUG on, no Stripe keys, the local checkout on.
"""

import re

import pytest
from playwright.sync_api import expect

from billing.models import LedgerEntry, Payment, StripeEvent
from billing.selectors import wallet_for
from orgs.services import personal_org_get_or_create
from tests.accounts.factories import UserFactory
from tests.browser.signin import sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def local_checkout(settings):
    settings.DEBUG = True
    settings.LOCAL_CHECKOUT = True
    settings.STRIPE_SECRET_KEY = ""
    settings.STRIPE_WEBHOOK_SECRET = ""


def test_a_top_up_through_the_local_checkout(page, live_server, local_checkout, artifacts):
    owner = UserFactory(email="owner@example.com")
    sign_in(page, owner)

    page.goto("/billing")
    expect(page.get_by_test_id("balance")).to_have_text("0.00 credits")
    expect(page.get_by_test_id("local-checkout-notice")).to_be_visible()
    page.get_by_role("button", name="$25", exact=True).click()

    # The payment step.
    expect(page).to_have_url(re.compile(r"/billing/checkout/cs_local_[0-9a-f]{32}$"))
    expect(page.get_by_role("heading", name="Checkout", exact=True)).to_be_visible()
    expect(page.get_by_test_id("checkout-amount")).to_contain_text("$25.00")
    expect(page.get_by_role("button", name="Cancel")).to_be_visible()
    page.screenshot(path=str(artifacts / "local-checkout.png"), full_page=True)
    payment = Payment.objects.get()
    assert (payment.amount_cents, payment.status) == (2500, Payment.Status.PENDING)
    assert page.url.endswith(payment.checkout_session_id)
    assert not LedgerEntry.objects.exists()

    page.get_by_role("button", name="Pay $25.00").click()

    expect(page).to_have_url(re.compile(rf"/billing/topup/{payment.public_id}/success\?"))
    status_card = page.locator("#topup-status")
    expect(status_card.get_by_role("heading", name="Credits added")).to_be_visible(timeout=10_000)
    expect(status_card).to_contain_text("2,500.00 credits are in your balance.")
    page.screenshot(path=str(artifacts / "local-checkout-paid.png"), full_page=True)

    # The database: one processed webhook event, one top-up entry, the balance it made.
    event = StripeEvent.objects.get()
    assert (event.type, event.status) == ("checkout.session.completed", "processed")
    [entry] = LedgerEntry.objects.all()
    assert (entry.kind, entry.amount_microcredits) == ("topup", 2_500_000_000)
    wallet = wallet_for(organization=personal_org_get_or_create(user=owner))
    assert wallet.balance_microcredits == entry.balance_after_microcredits == 2_500_000_000
    payment.refresh_from_db()
    assert payment.status == Payment.Status.PAID

    page.get_by_role("link", name="Back to billing").click()
    expect(page.get_by_test_id("balance")).to_have_text("2,500.00 credits")
    expect(page.get_by_role("cell", name="$25.00", exact=True)).to_be_visible()


def test_cancel_returns_to_billing(page, live_server, local_checkout):
    owner = UserFactory(email="owner@example.com")
    sign_in(page, owner)
    page.goto("/billing")
    page.get_by_role("button", name="$10", exact=True).click()
    page.get_by_role("button", name="Cancel").click()
    expect(page).to_have_url(f"{live_server.url}/billing?topup=cancelled")
    expect(page.get_by_text("Top-up cancelled; nothing was charged.")).to_be_visible()
    expect(page.get_by_test_id("balance")).to_have_text("0.00 credits")
    assert Payment.objects.get().status == Payment.Status.EXPIRED
    assert not LedgerEntry.objects.exists()
