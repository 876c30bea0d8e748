"""SSO enforcement on every password path (login, re-authentication, password reset) and
break-glass owners (password + MFA, audited, owners emailed). Keyed on membership: an
invitee from another domain is bound too; API keys are unaffected."""

from unittest import mock

import pytest
from allauth.mfa.totp.internal.auth import TOTP, generate_totp_secret
from django.core import mail
from django.test import Client

from apikeys.models import ApiKey
from orgs.models import AuditEvent, Membership
from orgs.permissions import Role
from sso.models import SsoConnection
from sso.selectors import password_login_refusal
from tests.accounts.conftest import TOTP_NOW, only_link, path_of, sign_in, totp_code
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import customer, join, key_make

pytestmark = pytest.mark.django_db

PASSWORD = "correct-horse-battery-9"
NEW_PASSWORD = "a-new-password-for-me-71"
SSO_MESSAGE = "requires single sign-on"
MFA_URL = "/accounts/2fa/authenticate/"


def make_user(email: str):
    return UserFactory(email=email, password=PASSWORD)


@pytest.fixture
def boss(db):
    return make_user("boss@acme.test")


@pytest.fixture
def acme(boss):
    from tests.apikeys.factories import team  # noqa: PLC0415 - keeps the fixture imports short

    return team(boss, "Acme Inc")


def enforced(org, *break_glass, enforce=True, enabled=True) -> SsoConnection:
    connection = SsoConnection.objects.create(
        organization=org,
        type="oidc",
        oidc_issuer="https://login.acme.test",
        oidc_client_id="console",
        enforce=enforce,
        enabled=enabled,
    )
    connection.break_glass_owners.set(
        Membership.objects.filter(organization=org, user__in=break_glass)
    )
    return connection


def logged_in(client: Client) -> bool:
    return client.get("/dashboard").status_code == 200


def test_a_member_is_refused_the_password_with_a_clear_message(acme, boss):
    member = join(acme, Role.DEVELOPER, make_user("dev@acme.test"))
    enforced(acme, boss)
    client = Client()

    response = sign_in(client, email=member.email, password=PASSWORD)

    assert response.status_code == 200
    assert SSO_MESSAGE in response.content.decode()
    assert "Acme Inc" in response.content.decode()
    assert not logged_in(client)


def test_an_invitee_from_another_domain_is_refused_too(acme, boss):
    outsider = join(acme, Role.VIEWER, make_user("contractor@gmail.test"))
    enforced(acme, boss)
    client = Client()

    response = sign_in(client, email=outsider.email, password=PASSWORD)

    assert SSO_MESSAGE in response.content.decode()
    assert not logged_in(client)


def test_a_wrong_password_says_nothing_about_sso(acme, boss):
    member = join(acme, Role.DEVELOPER, make_user("dev@acme.test"))
    enforced(acme, boss)

    for email in (member.email, "nobody@acme.test"):
        response = sign_in(Client(), email=email, password="not-the-password-0")
        page = response.content.decode()
        assert SSO_MESSAGE not in page
        assert "The email address and/or password you specified are not correct." in page


@pytest.mark.parametrize(("enforce", "enabled"), [(False, True), (True, False)])
def test_no_enforcement_when_off_or_disabled(acme, boss, enforce, enabled):
    member = join(acme, Role.DEVELOPER, make_user("dev@acme.test"))
    enforced(acme, boss, enforce=enforce, enabled=enabled)
    client = Client()

    assert sign_in(client, email=member.email, password=PASSWORD)["Location"] == "/dashboard"
    assert logged_in(client)


def test_someone_of_another_organization_is_not_bound(acme, boss):
    enforced(acme, boss)
    stranger = make_user("someone@acme.test")  # the enforced domain, but no membership
    client = Client()

    assert sign_in(client, email=stranger.email, password=PASSWORD)["Location"] == "/dashboard"


def test_a_break_glass_owner_without_mfa_is_told_to_set_it_up(acme, boss):
    enforced(acme, boss)
    client = Client()

    response = sign_in(client, email=boss.email, password=PASSWORD)

    assert "two-factor authentication" in response.content.decode()
    assert not logged_in(client)
    assert password_login_refusal(boss).code == "mfa_required"


def test_a_break_glass_owner_with_totp_gets_in_audited_and_owners_are_emailed(
    acme, boss, django_capture_on_commit_callbacks
):
    other_owner = join(acme, Role.OWNER, make_user("cofounder@acme.test"))
    connection = enforced(acme, boss)
    secret = generate_totp_secret()
    TOTP.activate(boss, secret)
    client = Client()
    clock = mock.patch("allauth.mfa.totp.internal.auth.time")  # codes at a fixed instant
    clock.start().time.return_value = TOTP_NOW

    response = sign_in(client, email=boss.email, password=PASSWORD)
    assert response["Location"] == MFA_URL
    assert not AuditEvent.objects.filter(action="sso.break_glass_used").exists()
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(MFA_URL, {"code": totp_code(secret)})

    clock.stop()
    assert done["Location"] == "/dashboard"
    assert logged_in(client)
    event = AuditEvent.objects.get(action="sso.break_glass_used")
    assert event.organization == acme and event.actor == boss
    assert event.target_id == connection.provider_id
    assert event.after == {"email": boss.email, "second_factor": "mfa"}
    [message] = [m for m in mail.outbox if "Break-glass" in m.subject]
    assert sorted(message.to) == sorted([boss.email, other_owner.email])
    assert boss.email in message.body


def test_a_demoted_break_glass_owner_is_refused(acme, boss):
    second = join(acme, Role.OWNER, make_user("second@acme.test"))
    enforced(acme, boss, second)
    TOTP.activate(second, generate_totp_secret())
    Membership.objects.filter(organization=acme, user=second).update(role=Role.ADMIN)

    response = sign_in(Client(), email=second.email, password=PASSWORD)

    assert SSO_MESSAGE in response.content.decode()
    assert password_login_refusal(second).code == "sso_required"


def test_password_reset_mails_no_link_to_a_bound_member_and_looks_the_same(acme, boss):
    member = join(acme, Role.DEVELOPER, make_user("dev@gmail.test"))
    enforced(acme, boss)
    mail.outbox.clear()

    response = Client().post("/accounts/password/reset/", {"email": member.email})

    assert response["Location"] == "/accounts/password/reset/done/"  # as for anyone
    [message] = mail.outbox
    assert message.to == [member.email]
    assert SSO_MESSAGE in message.body
    assert "/accounts/password/reset/key/" not in message.body


def test_a_reset_link_from_before_enforcement_cannot_set_a_password(acme, boss):
    member = join(acme, Role.DEVELOPER, make_user("dev@acme.test"))
    mail.outbox.clear()
    Client().post("/accounts/password/reset/", {"email": member.email})
    link = only_link(mail.outbox[0])
    enforced(acme, boss)

    browser = Client()
    form_page = browser.get(path_of(link), follow=True)
    response = browser.post(
        form_page.redirect_chain[-1][0], {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD}
    )

    assert response.status_code == 200
    assert SSO_MESSAGE in response.content.decode()
    member.refresh_from_db()
    assert member.check_password(PASSWORD) and not member.check_password(NEW_PASSWORD)


def test_reauthentication_with_the_password_is_refused(acme, boss):
    member = join(acme, Role.DEVELOPER, make_user("dev@acme.test"))
    client = Client()
    assert sign_in(client, email=member.email, password=PASSWORD)["Location"] == "/dashboard"
    enforced(acme, boss)

    response = client.post("/accounts/reauthenticate/", {"password": PASSWORD})

    assert response.status_code == 200
    assert SSO_MESSAGE in response.content.decode()


def test_api_keys_keep_working_under_enforcement(acme, boss):
    member = join(acme, Role.ADMIN, make_user("dev@acme.test"))
    _key, plaintext = key_make(org=acme, actor=member)
    enforced(acme, boss)

    client, headers, path = customer(plaintext)
    response = client.get(path, **headers)

    assert response.status_code == 200, response.content
    assert ApiKey.objects.filter(organization=acme).count() == 1


def test_the_page_warns_when_no_break_glass_owner_is_left(acme, boss):
    from tests.site.pages import in_org  # noqa: PLC0415 - only this test opens a page

    second = join(acme, Role.OWNER, make_user("second@acme.test"))
    connection = enforced(acme, second)
    client = Client()
    client.force_login(boss)
    in_org(client, acme)
    url = f"/settings/organization/sso/{connection.provider_id}"
    assert 'data-testid="break-glass-warning"' not in client.get(url).content.decode()

    Membership.objects.filter(organization=acme, user=second).update(role=Role.ADMIN)
    page = client.get(url).content.decode()

    assert 'data-testid="break-glass-warning"' in page
    assert "No break-glass owner is left" in page
    # Enforcement still holds, for the demoted owner too.
    assert password_login_refusal(second).code == "sso_required"


def test_the_password_step_is_reachable_without_the_email_step(acme, boss):
    """A break-glass owner's domain routes to the identity provider at the email step; when
    the provider is down they need the password step directly, and the email step links it."""
    client = Client()
    email_step = client.get("/accounts/login/?next=/billing").content.decode()
    assert 'data-testid="login-email-step"' in email_step
    assert 'name="password"' not in email_step
    assert "?method=password&amp;next=/billing" in email_step
    password_step = client.get("/accounts/login/?method=password").content.decode()
    assert 'name="password"' in password_step
    assert 'data-testid="login-email-step"' not in password_step
    assert sign_in(client, email=boss.email, password=PASSWORD)["Location"] == "/dashboard"
    assert logged_in(client)
