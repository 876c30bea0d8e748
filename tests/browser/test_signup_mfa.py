"""A new developer's first session, end to end in a real browser.

Sign up → verify the email from the sent link → log in → enable TOTP → log out → log in
with password and code → the dashboard.
"""

import base64
import hashlib
import hmac
import re
import struct
import time

import pytest
from allauth.mfa.models import Authenticator
from django.core import mail

from accounts.models import User

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

EMAIL = "New.Developer@Example.com"
PASSWORD = "a-long-and-unusual-passphrase-42"


def totp(secret: str, *, step_offset: int = 0) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), written here independently of the server's code."""
    key = base64.b32decode(secret.replace(" ", ""), casefold=True)
    counter = int(time.time()) // 30 + step_offset
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In", exact=True).click()


def test_signup_verify_enable_totp_and_sign_in_with_code(page, settings, artifacts):
    # One step of clock tolerance lets the second login use the *next* code: allauth
    # refuses a code that was already used, and the test must not wait for a new window.
    settings.MFA_TOTP_TOLERANCE = 1

    # --- Sign up -------------------------------------------------------------------
    page.goto("/accounts/signup/")
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password (again)").fill(PASSWORD)
    page.get_by_role("button", name="Sign Up").click()
    page.get_by_role("heading", name="Verify Your Email Address").wait_for()

    user = User.objects.get()
    assert user.email == EMAIL.lower()  # the identity is stored in one case

    # --- Unverified: login is refused until the link is opened ---------------------
    log_in(page, EMAIL.lower(), PASSWORD)
    page.get_by_role("heading", name="Verify Your Email Address").wait_for()

    # --- Verify from the link in the mail -----------------------------------------
    assert len(mail.outbox) >= 1
    body = mail.outbox[-1].body
    match = re.search(re.escape(settings.SITE_URL) + r"/accounts/confirm-email/\S+", body)
    assert match, body
    page.goto(match.group(0))
    page.get_by_role("button", name="Confirm").click()
    page.get_by_text("You have confirmed").wait_for()

    # --- Log in (mixed case works: one account) --------------------------------------
    log_in(page, EMAIL, PASSWORD)
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
    assert page.url.endswith("/dashboard")

    # --- Enable TOTP -----------------------------------------------------------------
    page.goto("/accounts/2fa/totp/activate/")
    # Security settings ask for the password again, even right after signing in.
    page.get_by_role("heading", name="Confirm Access").wait_for()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Confirm").click()
    secret = page.locator("#authenticator_secret").input_value()
    assert re.fullmatch(r"[A-Z2-7]{16,}=*", secret)
    page.get_by_label("Authenticator code").fill(totp(secret))
    page.get_by_role("button", name="Activate").click()
    page.get_by_role("heading", name="Recovery Codes").wait_for()
    assert set(Authenticator.objects.filter(user=user).values_list("type", flat=True)) == {
        "totp",
        "recovery_codes",
    }

    # --- Log out from the account menu ----------------------------------------------
    page.goto("/dashboard")
    page.locator(".account-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Sign In").wait_for()

    # --- Password alone is not enough ------------------------------------------------
    log_in(page, EMAIL, PASSWORD)
    page.get_by_role("heading", name="Two-Factor Authentication").wait_for()
    assert "/accounts/2fa/authenticate/" in page.url
    page.goto("/dashboard")
    assert "/accounts/2fa/authenticate/" in page.url  # not signed in until the code is given

    page.get_by_label("Code").fill("000000" if totp(secret) != "000000" else "111111")
    page.get_by_role("button", name="Sign In").click()
    page.get_by_text("Incorrect code").wait_for()

    page.get_by_label("Code").fill(totp(secret, step_offset=1))
    page.get_by_role("button", name="Sign In").click()
    page.get_by_role("heading", name=re.compile("Welcome")).wait_for()
    assert page.url.endswith("/dashboard")
    page.get_by_text("Two-factor authentication is on").wait_for()
    page.screenshot(path=str(artifacts / "dashboard.png"), full_page=True)
