"""Webhooks in a real browser: an owner adds an endpoint, copies the signing secret shown
once, sends a test event that a loopback receiver verifies with ``standardwebhooks``, and
sees the delivery (200, attempt 1) in the log. Screenshots in artifacts/browser/webhooks."""

import pytest
from django.test import override_settings
from playwright.sync_api import expect

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory
from tests.webhooks.receiver import Receiver
from webhooks.models import WebhookEndpoint

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def test_create_see_the_secret_once_send_a_test_and_see_the_delivery(
    page, live_server, artifacts, receiver
):
    shots = artifacts / "webhooks"
    shots.mkdir(exist_ok=True)
    user = UserFactory(email="hooks@example.com")
    with override_settings(ALLOW_PRIVATE_OUTBOUND=True):
        page.goto("/accounts/login/")
        page.get_by_label("Email").fill(user.email)
        page.get_by_role("button", name="Continue").click()
        page.get_by_label("Password").fill(DEFAULT_PASSWORD)
        page.get_by_role("button", name="Sign In", exact=True).click()
        page.get_by_role("heading", name="Welcome", exact=False).wait_for()

        page.goto("/settings/organization")
        page.get_by_role("link", name="Manage webhooks").click()
        page.get_by_role("heading", name="Webhooks", exact=True).wait_for()

        # Nothing chosen: the form says so on the field, nothing is made.
        page.get_by_label("URL").fill(receiver.url())
        page.get_by_role("button", name="Add endpoint").click()
        expect(page.locator(".field--invalid .field__errors")).to_contain_text("required")
        assert not WebhookEndpoint.objects.exists()

        page.get_by_label("URL").fill(receiver.url())
        page.get_by_label("job.succeeded", exact=False).check()
        page.get_by_label("balance.low", exact=False).check()
        page.get_by_role("button", name="Add endpoint").click()
        secret_box = page.get_by_test_id("webhook-secret")
        expect(secret_box).to_contain_text("whsec_")
        secret = secret_box.inner_text().strip()
        page.screenshot(path=str(shots / "created-secret.png"), full_page=True)
        receiver.secrets = [secret]
        endpoint = WebhookEndpoint.objects.get()
        assert endpoint.event_types == ["job.succeeded", "balance.low"]

        # The secret is shown once: a reload of the endpoint's page does not show it.
        page.goto(f"/settings/organization/webhooks/{endpoint.public_id}")
        expect(page.get_by_test_id("webhook-secret")).to_have_count(0)
        assert secret not in page.content()

        page.get_by_test_id("send-test").click()
        expect(page.get_by_test_id("deliveries")).to_contain_text("webhook.test")
        (got,) = receiver.wait_for(1)
        assert got.verified[secret]["type"] == "webhook.test"
        page.get_by_text("1 attempt").click()
        expect(page.get_by_test_id("attempt-status")).to_have_text("200")
        page.screenshot(path=str(shots / "delivered.png"), full_page=True)
        page.set_viewport_size({"width": 390, "height": 860})
        page.screenshot(path=str(shots / "delivered-390.png"), full_page=True)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
