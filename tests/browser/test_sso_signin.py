"""Signing in through corporate SSO in a real browser: the login page asks for the email,
sends a verified SSO domain to its IdP (saml-idp, node-oidc-provider, on loopback), and the
IdP sends the browser back signed in, in the organization's context, created just in time
with the default role.

The IdPs here are started for the live server's URL (their ACS and redirect URI are fixed at
start), apart from the session-wide ones of tests/sso that answer ``SITE_URL``.
"""

import re

import pytest
from allauth.usersessions.models import UserSession
from django.utils import timezone

from accounts.models import User
from hypereal_site import crypto
from orgs.models import Membership
from orgs.permissions import Role
from sso import saml
from sso.models import SsoConnection, SsoDomain, SsoIdentity
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import team
from tests.sso.idps import node_idps_installed, start_oidc_idp, start_saml_idp  # noqa: F401

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="session")
def live_saml_idp(node_idps_installed, live_server, tmp_path_factory):  # noqa: F811
    idp = start_saml_idp(node_idps_installed, tmp_path_factory.mktemp("b-saml"), live_server.url)
    yield idp
    idp.server.stop()


@pytest.fixture(scope="session")
def live_oidc_idp(node_idps_installed, live_server, tmp_path_factory):  # noqa: F811
    idp = start_oidc_idp(node_idps_installed, tmp_path_factory.mktemp("b-oidc"), live_server.url)
    yield idp
    idp.server.stop()


@pytest.fixture
def org(settings):
    settings.ALLOW_PRIVATE_OUTBOUND = True  # the IdPs listen on http://127.0.0.1
    return team(UserFactory(), "Acme Inc")


def _route(org, connection, domain):
    SsoDomain.objects.create(
        organization=org, name=domain, connection=connection, verified_at=timezone.now()
    )


def _email_step(page, email, shots, name):
    page.goto("/accounts/login/?next=/settings/organization")
    assert page.get_by_label("Password").count() == 0  # email first
    page.get_by_label("Email").fill(email)
    page.screenshot(path=str(shots / f"{name}-email-step.png"), full_page=True)
    page.get_by_role("button", name="Continue").click()


def _landed(page, org, email, shots, name):
    page.wait_for_url(re.compile(r"/settings/organization$"))
    page.screenshot(path=str(shots / f"{name}-signed-in.png"), full_page=True)
    assert page.locator(".context-switcher__name").first.get_attribute("title") == org.name
    user = User.objects.get(email=email)
    assert Membership.objects.get(organization=org, user=user).role == Role.DEVELOPER
    assert SsoIdentity.objects.filter(user=user).count() == 1
    assert UserSession.objects.filter(user=user).count() == 1
    return user


def test_saml_email_first_to_saml_idp_and_back_with_jit(page, org, live_saml_idp, artifacts):
    metadata = saml.fetch_idp_metadata(live_saml_idp.metadata_url)
    connection = SsoConnection.objects.create(
        organization=org,
        type="saml",
        provider_id=live_saml_idp.provider_id,
        saml_entity_id=metadata.entity_id,
        saml_sso_url=metadata.sso_url,
        saml_certificate=metadata.certificates[0].pem,
        jit_enabled=True,
        default_role=Role.DEVELOPER,
    )
    _route(org, connection, "example.com")
    email = "saml.jackson@example.com"
    _email_step(page, email, artifacts, "sso-saml")
    # saml-idp's sign-in page: its form is prefilled with the test user; sign in.
    page.wait_for_url(re.compile(re.escape(live_saml_idp.base_url)))
    page.get_by_role("button", name=re.compile("Sign In", re.I)).first.click()
    _landed(page, org, email, artifacts, "sso-saml")
    # Signing out works; the next sign-in reuses the identity.
    page.goto("/accounts/logout/")
    page.get_by_role("button", name=re.compile("Sign Out", re.I)).click()
    page.wait_for_url(re.compile(r"/accounts/login/"))
    assert UserSession.objects.purge_and_list(User.objects.get(email=email)) == []
    page.goto("/dashboard")
    page.wait_for_url(re.compile(r"/accounts/login/"))


def test_oidc_email_first_to_oidc_provider_and_back_with_jit(page, org, live_oidc_idp, artifacts):
    connection = SsoConnection.objects.create(
        organization=org,
        type="oidc",
        provider_id=live_oidc_idp.provider_id,
        oidc_issuer=live_oidc_idp.issuer,
        oidc_client_id=live_oidc_idp.client_id,
        oidc_client_secret=crypto.encrypt(live_oidc_idp.client_secret),
        jit_enabled=True,
        default_role=Role.DEVELOPER,
    )
    _route(org, connection, "corp.example")
    email = "alice@corp.example"
    _email_step(page, email, artifacts, "sso-oidc")
    # node-oidc-provider's development interactions: log in (any password), then consent.
    page.wait_for_url(re.compile(re.escape(live_oidc_idp.issuer)))
    page.locator("input[name=login]").fill("alice")
    page.locator("input[name=password]").fill("any")
    page.locator("button[type=submit]").first.click()
    page.wait_for_load_state()
    if page.url.startswith(live_oidc_idp.issuer):  # the consent prompt
        page.locator("button[type=submit]").first.click()
    _landed(page, org, email, artifacts, "sso-oidc")


def test_another_domain_gets_the_password_step_at_390px(browser, live_server, artifacts, org):
    context = browser.new_context(viewport={"width": 390, "height": 860}, base_url=live_server.url)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill("someone@elsewhere.test")
    page.get_by_role("button", name="Continue").click()
    page.get_by_label("Password").wait_for()
    page.screenshot(path=str(artifacts / "sso-password-step-390.png"), full_page=True)
    assert page.get_by_label("Email").input_value() == "someone@elsewhere.test"
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    context.close()
