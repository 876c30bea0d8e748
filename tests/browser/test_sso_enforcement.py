"""SSO enforcement in a real browser: the password step refused for members (one of them
with an email outside the connection's domain), a break-glass owner through with password
and TOTP, and the connection page with its check results at 1280 and 390 px."""

import base64
import hashlib
import hmac
import struct
import time

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core import mail

from orgs.models import AuditEvent, Membership
from orgs.permissions import Role
from sso.models import SsoConnection
from sso.services import connection_create, connection_update
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, team
from tests.browser.console_pages import FITS, session_cookie
from tests.sso.metadata import certificate, idp_metadata

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PASSWORD = "a-long-and-unusual-passphrase-42"
REFUSED = "requires single sign-on"


def totp(secret: str) -> str:
    """RFC 6238 (SHA-1, 30 s, 6 digits), independently of the server's code."""
    key = base64.b32decode(secret.replace(" ", ""), casefold=True)
    digest = hmac.new(key, struct.pack(">Q", int(time.time()) // 30), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    value = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{value % 1_000_000:06d}"


def log_in(page, email: str, password: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_role("button", name="Continue").click()  # the email step: no SSO domain here
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign In", exact=True).click()


def enforced_world():
    owner = UserFactory(email="boss@acme.test", password=PASSWORD)
    org = team(owner, "Acme Inc")
    connection = connection_create(
        organization=org,
        actor=owner,
        type="saml",
        domains=["acme.test"],
        metadata_xml=idp_metadata(certificate("acme-current"), certificate("acme-next", days=700)),
    )
    owner_member = Membership.objects.get(organization=org, user=owner)
    connection_update(
        connection=connection,
        actor=owner,
        enforce=True,
        break_glass_owners=[owner_member.public_id],
    )
    return owner, org, SsoConnection.objects.get(pk=connection.pk)


def test_password_refused_for_members_including_another_domain(page, artifacts):
    _owner, org, _connection = enforced_world()
    inside = join(org, Role.DEVELOPER, UserFactory(email="dev@acme.test", password=PASSWORD))
    outside = join(
        org, Role.VIEWER, UserFactory(email="contractor@elsewhere.test", password=PASSWORD)
    )

    for user in (inside, outside):
        log_in(page, user.email, PASSWORD)
        page.get_by_text(REFUSED).wait_for()
        assert "/accounts/login/" in page.url
        page.goto("/dashboard")
        assert "/accounts/login/" in page.url  # no session was opened
    page.set_viewport_size({"width": 390, "height": 860})
    log_in(page, outside.email, PASSWORD)
    page.get_by_text(REFUSED).wait_for()
    assert page.evaluate(FITS)
    page.screenshot(path=str(artifacts / "sso-enforced-login-390.png"), full_page=True)


def test_break_glass_owner_gets_through_with_password_and_totp(page, artifacts):
    owner, org, connection = enforced_world()
    second_owner = join(org, Role.OWNER, UserFactory(email="cofounder@acme.test"))

    # Without a second factor the break-glass owner is refused too.
    log_in(page, owner.email, PASSWORD)
    page.get_by_text("two-factor authentication").wait_for()

    secret = generate_totp_secret()
    TOTP.activate(owner, secret)
    mail.outbox.clear()
    log_in(page, owner.email, PASSWORD)
    page.get_by_role("heading", name="Two-Factor Authentication").wait_for()
    page.get_by_label("Code").fill(totp(secret))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url("**/dashboard")
    page.screenshot(path=str(artifacts / "sso-break-glass-dashboard.png"), full_page=True)

    event = AuditEvent.objects.get(action="sso.break_glass_used")
    assert event.actor == owner and event.target_id == connection.provider_id
    [message] = [m for m in mail.outbox if "Break-glass" in m.subject]
    assert sorted(message.to) == sorted([owner.email, second_owner.email])


@pytest.mark.parametrize("width", [1280, 390])
def test_connection_page_shows_the_check_results(browser, live_server, settings, artifacts, width):
    settings.SITE_URL = live_server.url
    owner, org, connection = enforced_world()
    context = browser.new_context(
        viewport={"width": width, "height": 860}, base_url=live_server.url
    )
    context.add_cookies([session_cookie(owner, org, live_server.url)])
    page = context.new_page()
    page.goto(f"/settings/organization/sso/{connection.provider_id}")

    page.get_by_text("Passed").first.wait_for()
    certificates = page.locator('[data-testid="certificate"]')
    assert certificates.count() == 2
    assert "SHA-256 fingerprint" in certificates.first.inner_text()
    assert page.locator('[data-testid="sp-metadata"]').is_visible()
    assert page.evaluate(FITS), f"the page is wider than {width}px"
    page.screenshot(path=str(artifacts / f"sso-connection-{width}.png"), full_page=True)
    context.close()
