"""The SSO settings pages: owners and admins only, domains with their TXT record and a Verify
button, connections with the values to copy, forms that show field errors, and no secret
ever rendered back."""

import re

import pytest

from orgs.permissions import PERMISSION_ROLES, Perm, Role
from sso.models import SsoConnection, SsoDomain
from tests.apikeys.factories import join

from .conftest import claim
from .metadata import idp_metadata

pytestmark = pytest.mark.django_db

SECRET = "page-secret-Qm3v9"


def oidc_form(**extra) -> dict:
    return {
        "domains": "example.com",
        "oidc_issuer": "https://login.example.com",
        "oidc_client_id": "console",
        "client_secret": SECRET,
        "default_role": "viewer",
        "enabled": "on",
        **extra,
    }


@pytest.mark.parametrize("role", list(Role))
def test_the_page_follows_the_role_table(org, owner, web, role):
    claim(org, owner)
    user = owner if role == Role.OWNER else join(org, role)
    client = web(user, org)

    settings_page = client.get("/settings/organization").content.decode()
    response = client.get("/settings/organization/sso")

    allowed = role in PERMISSION_ROLES[Perm.SSO_MANAGE]
    assert ('href="/settings/organization/sso"' in settings_page) == allowed
    assert response.status_code == (200 if allowed else 403)
    if allowed:
        html = response.content.decode()
        token = SsoDomain.objects.get().token
        assert "_hypereal-challenge.example.com" in html and token in html
        assert 'action="/settings/organization/sso/domains/example.com/verify"' in html
        assert "Not verified" in html
    for path in ("/settings/organization/sso/new?type=oidc",):
        assert client.get(path).status_code == (200 if allowed else 403)


def test_the_personal_context_explains_sso_is_for_organizations(owner, web):
    response = web(owner).get("/settings/organization/sso")
    assert response.status_code == 200
    assert "Single sign-on is for organizations" in response.content.decode()


def test_claim_form_shows_the_field_error(org, owner, web):
    response = web(owner, org).post("/settings/organization/sso/domains", {"domain": "co.uk"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "field--invalid" in html and "public suffix" in html
    assert not SsoDomain.objects.exists()

    ok = web(owner, org).post("/settings/organization/sso/domains", {"domain": "Example.com"})
    assert ok.status_code == 302 and SsoDomain.objects.get().name == "example.com"


def test_verify_button_checks_dns(org, owner, web, nameserver):
    domain = claim(org, owner)
    client = web(owner, org)
    verify = "/settings/organization/sso/domains/example.com/verify"

    client.post(verify)
    assert "not verified yet" in client.get("/settings/organization/sso").content.decode()

    nameserver.publish(domain.record_name, domain.token)
    response = client.post(verify, follow=True)
    html = response.content.decode()
    assert "example.com is verified." in html
    assert re.search(r"example\.com</strong>\s*<span class=\"badge badge--success\">Verified", html)


def test_create_oidc_then_edit_without_showing_the_secret(org, owner, web, settings):
    settings.SITE_URL = "https://console.example.net"
    client = web(owner, org)

    response = client.post("/settings/organization/sso/new?type=oidc", oidc_form())

    connection = SsoConnection.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/settings/organization/sso/{connection.provider_id}"
    page = client.get(response["Location"]).content.decode()
    expected = f"https://console.example.net/api/auth/sso/{connection.provider_id}/callback"
    assert expected in page
    assert "Failed" in page and "could not be resolved" in page  # the save-time check ran
    assert SECRET not in page and connection.oidc_client_secret not in page

    # Saving with the secret left empty keeps it.
    saved = client.post(
        f"/settings/organization/sso/{connection.provider_id}",
        oidc_form(client_secret="", jit_enabled="on", default_role="developer"),
    )
    assert saved.status_code == 302
    connection.refresh_from_db()
    assert connection.jit_enabled and connection.default_role == "developer"
    assert connection.has_client_secret


def test_create_saml_shows_the_acs_url_and_entity_id(org, owner, web, settings):
    settings.SITE_URL = "https://console.example.net"
    client = web(owner, org)
    response = client.post(
        "/settings/organization/sso/new?type=saml",
        {
            "domains": "example.com",
            "metadata_xml": idp_metadata(),
            "default_role": "viewer",
            "attribute_email": "email",
            "require_signed_assertions": "on",
        },
        follow=True,
    )
    connection = SsoConnection.objects.get()
    html = response.content.decode()
    base = f"https://console.example.net/api/auth/sso/{connection.provider_id}"
    assert f'data-testid="acs-url">{base}<' in html
    assert f'data-testid="sp-entity-id">{base}/metadata<' in html
    assert connection.require_signed_assertions and not connection.idp_initiated


@pytest.mark.parametrize(
    ("form", "field_text"),
    [
        (oidc_form(oidc_issuer="http://login.example.com"), "Enter an https:// URL."),
        (oidc_form(domains="co.uk"), "public suffix"),
        (oidc_form(client_secret=""), "Enter the client secret."),
        (oidc_form(group_role_mapping="Engineering"), "write group = role"),
        (oidc_form(group_role_mapping="Engineering = owner"), "never makes anyone an owner"),
    ],
)
def test_create_form_shows_errors_on_its_fields(org, owner, web, form, field_text, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False  # http:// is refused outside development
    response = web(owner, org).post("/settings/organization/sso/new?type=oidc", form)
    assert response.status_code == 400
    html = response.content.decode()
    assert "field--invalid" in html and field_text in html
    assert SECRET not in html  # the password field is never filled back
    assert not SsoConnection.objects.exists()


def test_enforcing_needs_a_break_glass_owner(org, owner, web):
    client = web(owner, org)
    client.post("/settings/organization/sso/new?type=oidc", oidc_form())
    connection = SsoConnection.objects.get()
    url = f"/settings/organization/sso/{connection.provider_id}"

    refused = client.post(url, oidc_form(client_secret="", enforce="on"))
    assert refused.status_code == 400 and "break-glass owner" in refused.content.decode()

    member = org.memberships.get(user=owner)
    ok = client.post(
        url, oidc_form(client_secret="", enforce="on", break_glass_owners=[member.public_id])
    )
    assert ok.status_code == 302
    connection.refresh_from_db()
    assert connection.enforce and list(connection.break_glass_owners.all()) == [member]


def test_delete_and_remove(org, owner, web):
    client = web(owner, org)
    client.post("/settings/organization/sso/new?type=oidc", oidc_form())
    connection = SsoConnection.objects.get()
    client.post(f"/settings/organization/sso/{connection.provider_id}/delete")
    assert not SsoConnection.objects.exists()
    client.post("/settings/organization/sso/domains/example.com/remove")
    assert not SsoDomain.objects.exists()


def test_another_tenants_connection_is_a_404(org, owner, web):
    from tests.accounts.factories import UserFactory  # noqa: PLC0415 - only this test
    from tests.apikeys.factories import team  # noqa: PLC0415 - only this test

    web(owner, org).post("/settings/organization/sso/new?type=oidc", oidc_form())
    pid = SsoConnection.objects.get().provider_id
    outsider = UserFactory()
    theirs = team(outsider, "Globex")
    client = web(outsider, theirs)
    assert client.get(f"/settings/organization/sso/{pid}").status_code == 404
    assert client.post(f"/settings/organization/sso/{pid}/delete").status_code == 404
    assert client.post("/settings/organization/sso/domains/example.com/verify").status_code == 404
    assert SsoConnection.objects.exists()


def test_the_create_form_leaves_enforcement_for_later(org, owner, web):
    html = web(owner, org).get("/settings/organization/sso/new?type=oidc").content.decode()
    assert 'name="oidc_issuer"' in html and 'name="client_secret"' in html
    assert 'name="enforce"' not in html and 'name="break_glass_owners"' not in html
