"""Passkeys (WebAuthn) in a real Chromium with a virtual authenticator.

Chromium's DevTools WebAuthn domain plays the part of the security key, so the whole
ceremony — the browser's navigator.credentials calls, allauth's fido2 verification —
runs for real.
"""

import re

import pytest
from allauth.mfa.models import Authenticator

from tests.accounts.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def add_virtual_authenticator(page) -> None:
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )


def test_add_a_passkey_then_sign_in_with_it_alone(page):
    user = UserFactory(email="passkey.user@example.com")
    add_virtual_authenticator(page)

    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(user.email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Sign In", exact=True).click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()

    page.goto("/accounts/2fa/webauthn/add/")
    page.get_by_role("heading", name="Confirm Access").wait_for()
    page.get_by_label("Password").fill(DEFAULT_PASSWORD)
    page.get_by_role("button", name="Confirm").click()

    page.get_by_role("heading", name="Add Security Key").wait_for()
    page.get_by_label("Name").fill("Work laptop")
    page.get_by_label("Passwordless").check()
    page.locator("#mfa_webauthn_add").click()
    page.get_by_text("Security key added.").wait_for()

    key = Authenticator.objects.get(user=user, type=Authenticator.Type.WEBAUTHN)
    assert key.wrap().name == "Work laptop"
    assert key.wrap().is_passwordless is True

    # Sign out, then sign in with the passkey: no email, no password.
    page.goto("/dashboard")
    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign In").wait_for()
    page.get_by_role("button", name="Sign in with a passkey").click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
    assert page.url.endswith("/dashboard")
    assert page.get_by_text(user.email).first.is_visible()
