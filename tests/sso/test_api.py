"""The SSO API: /api/orgs/<id>/sso and /api/orgs/<id>/domains. Strict input, envelope errors,
sso.manage only, another tenant's things are 404, URLs from SITE_URL, the secret write-only,
and every change audited."""

import json

import pytest
from django.db import IntegrityError, transaction
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from hypereal_site import crypto
from orgs.models import AuditEvent, Membership
from orgs.permissions import Role
from sso.models import SsoConnection, SsoDomain
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import team

from .conftest import assert_envelope, claim, member_of
from .metadata import idp_metadata

pytestmark = pytest.mark.django_db

SECRET = "oidc-client-secret-Zq81xV"
METADATA = idp_metadata()


def oidc_body(**extra) -> dict:
    return {
        "type": "oidc",
        "issuer": "https://login.example.com",
        "clientId": "console",
        "clientSecret": SECRET,
        "domain": "example.com",
        **extra,
    }


def create(client, org, body=None):
    body = {k: v for k, v in (body or oidc_body()).items() if v is not None}
    return client.post(f"/api/orgs/{org.public_id}/sso", body, format="json")


@pytest.fixture
def site(settings):
    settings.SITE_URL = "https://console.example.net"
    return settings.SITE_URL


def test_create_oidc_answers_the_redirect_uri_the_check_and_the_txt_record(org, owner, api, site):
    response = api(owner).post(
        f"/api/orgs/{org.public_id}/sso",
        oidc_body(),
        format="json",
        HTTP_HOST="localhost:9999",  # never used to build our URLs
    )

    assert response.status_code == 201, response.content
    body = response.json()
    pid = body["providerId"]
    assert pid.startswith("sso_") and len(pid) == 20 and pid.isascii()
    assert body["type"] == "oidc"
    assert body["redirectUri"] == f"{site}/api/auth/sso/{pid}/callback"
    assert "acsUrl" not in body
    # The save-time check ran: this issuer's host does not resolve.
    assert body["check"]["status"] == "failed" and body["check"]["reason"] == "dns"
    assert "login.example.com" in body["check"]["message"] and body["check"]["checkedAt"]
    assert body["clientSecretSet"] is True and "clientSecret" not in body
    assert body["issuer"] == "https://login.example.com" and body["clientId"] == "console"
    [domain] = body["domains"]
    assert domain["domain"] == "example.com" and domain["status"] == "pending"
    stored = SsoDomain.objects.get(organization=org, name="example.com")
    assert domain["txtRecord"] == {
        "name": "_hypereal-challenge.example.com",
        "type": "TXT",
        "value": stored.token,
    }
    assert SECRET not in response.content.decode()
    assert "localhost" not in response.content.decode()
    connection = SsoConnection.objects.get(provider_id=pid)
    assert connection.oidc_client_secret and SECRET not in connection.oidc_client_secret
    assert crypto.decrypt(connection.oidc_client_secret) == SECRET
    actions = set(AuditEvent.objects.filter(organization=org).values_list("action", flat=True))
    assert {"sso.domain_claimed", "sso.connection_created"} <= actions
    event = AuditEvent.objects.get(organization=org, action="sso.connection_created")
    assert event.target_id == pid and event.after["client_secret_set"] is True
    assert SECRET not in json.dumps(event.after)


def test_create_saml_answers_the_acs_url_and_entity_id(org, owner, api, site):
    response = create(
        api(owner), org, {"type": "saml", "metadataXml": METADATA, "domain": "Bücher.de"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    pid = body["providerId"]
    assert body["acsUrl"] == f"{site}/api/auth/sso/{pid}"
    assert body["spEntityId"] == f"{site}/api/auth/sso/{pid}/metadata"
    assert "redirectUri" not in body and "clientSecretSet" not in body
    assert body["metadataXml"] == METADATA and body["metadataUrl"] == ""
    assert body["requireSignedAssertions"] is True and body["idpInitiated"] is False
    assert body["domains"][0]["domain"] == "bücher.de"
    assert body["domains"][0]["txtRecord"]["name"] == "_hypereal-challenge.xn--bcher-kva.de"
    # The save-time check parsed the metadata.
    assert body["idpEntityId"] == "https://idp.example.com/saml"
    assert body["idpSsoUrl"] == "https://idp.example.com/sso"
    [cert] = body["certificates"]
    assert len(cert["sha256Fingerprint"]) == 95 and cert["expired"] is False
    assert body["check"]["status"] == "ok"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"type": "saml", "domain": "example.com"}, "metadataXml"),
        (
            {
                "type": "saml",
                "metadataXml": METADATA,
                "metadataUrl": "https://idp.example.com/md",
                "domain": "example.com",
            },
            "metadataXml",
        ),
        ({"type": "saml", "metadataXml": "not xml", "domain": "example.com"}, "metadataXml"),
        (
            {"type": "saml", "metadataUrl": "http://idp.example.com/md", "domain": "x.com"},
            "metadataUrl",
        ),
        (oidc_body(clientSecret=None), "clientSecret"),
        (oidc_body(clientSecret=""), "clientSecret"),
        (oidc_body(issuer="http://login.example.com"), "issuer"),
        (oidc_body(issuer="not a url"), "issuer"),
        (oidc_body(clientId=""), "clientId"),
        (oidc_body(domain="com"), "domain"),
        (oidc_body(domain="10.0.0.1"), "domain"),
        (oidc_body(domain="exa\x00mple.com"), "domain"),
        ({k: v for k, v in oidc_body().items() if k != "domain"}, "domain"),
        (oidc_body(type="ldap"), "type"),
        (oidc_body(defaultRole="owner"), "defaultRole"),
        (oidc_body(groupRoleMapping={"Admins": "owner"}), "groupRoleMapping"),
        (oidc_body(enabled="yes please"), "enabled"),
        (oidc_body(spendingLimit=5), "spendingLimit"),  # unknown fields are refused
        (oidc_body(enforce=True), "enforce"),  # not on create: break-glass owners first
        (oidc_body(clientSecret="x" * 2001), "clientSecret"),
    ],
)
def test_bad_input_is_a_400_naming_the_field_and_changes_nothing(
    org, owner, api, body, field, settings
):
    settings.ALLOW_PRIVATE_OUTBOUND = False  # http:// is refused (allowed only in development)
    body = {k: v for k, v in body.items() if v is not None}
    response = create(api(owner), org, body)
    error = assert_envelope(response, 400, "validation_error")
    assert field in error["fields"], error
    assert SECRET not in response.content.decode()
    assert not SsoConnection.objects.exists()
    assert not AuditEvent.objects.filter(action__startswith="sso.").exists()


def test_a_huge_body_is_413_and_changes_nothing(org, owner, api):
    body = oidc_body(issuer="https://" + "a" * 300_000 + ".com")
    response = create(api(owner), org, body)
    assert_envelope(response, 413, "request_too_large")
    assert not SsoConnection.objects.exists()


@pytest.mark.parametrize("role", ["developer", "billing", "viewer"])
def test_other_roles_get_403_on_every_endpoint(org, owner, api, role):
    created = create(api(owner), org).json()
    user = member_of(org, role)
    client = api(user)
    base = f"/api/orgs/{org.public_id}"
    pid = created["providerId"]
    calls = [
        client.get(f"{base}/sso"),
        create(client, org, oidc_body(domain="other.com")),
        client.get(f"{base}/sso/{pid}"),
        client.patch(f"{base}/sso/{pid}", {"enabled": False}, format="json"),
        client.delete(f"{base}/sso/{pid}"),
        client.get(f"{base}/domains"),
        client.post(f"{base}/domains", {"domain": "new.com"}, format="json"),
        client.post(f"{base}/domains/example.com/verify"),
        client.delete(f"{base}/domains/example.com"),
    ]
    for response in calls:
        assert_envelope(response, 403, "permission_denied")
    assert SsoConnection.objects.get().enabled is True
    assert SsoDomain.objects.count() == 1


def test_admins_manage_sso(org, owner, api):
    admin = member_of(org, "admin")
    response = create(api(admin), org)
    assert response.status_code == 201
    assert (
        api(admin).get(f"/api/orgs/{org.public_id}/sso").json()["connections"][0]["providerId"]
        == response.json()["providerId"]
    )


def test_another_tenants_org_and_connection_are_404(org, owner, api):
    pid = create(api(owner), org).json()["providerId"]
    outsider = UserFactory()
    theirs = team(outsider, "Globex")
    client = api(outsider)

    for response in (
        client.get(f"/api/orgs/{org.public_id}/sso"),
        client.get(f"/api/orgs/{org.public_id}/sso/{pid}"),
        client.get(f"/api/orgs/{org.public_id}/domains"),
        client.get(f"/api/orgs/{theirs.public_id}/sso/{pid}"),  # through their own org
        client.patch(f"/api/orgs/{theirs.public_id}/sso/{pid}", {"enabled": False}, format="json"),
        client.delete(f"/api/orgs/{theirs.public_id}/sso/{pid}"),
        client.post(f"/api/orgs/{theirs.public_id}/domains/example.com/verify"),
    ):
        assert_envelope(response, 404, "not_found")
    assert SsoConnection.objects.get().enabled is True


def test_signed_out_is_401(org):
    assert_envelope(APIClient().get(f"/api/orgs/{org.public_id}/sso"), 401, "not_authenticated")


def test_patch_changes_settings_and_audits_each_change(org, owner, api):
    client = api(owner)
    pid = create(client, org).json()["providerId"]
    owner_member = Membership.objects.get(organization=org, user=owner)
    developer = member_of(org, "developer")
    dev_member = Membership.objects.get(organization=org, user=developer)
    url = f"/api/orgs/{org.public_id}/sso/{pid}"

    response = client.patch(
        url,
        {
            "enabled": False,
            "jitEnabled": True,
            "defaultRole": "developer",
            "groupRoleMapping": {"Engineering": "developer", "IT": "admin"},
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["enabled"], body["jitEnabled"], body["defaultRole"]) == (False, True, "developer")
    assert body["groupRoleMapping"] == {"Engineering": "developer", "IT": "admin"}
    event = AuditEvent.objects.filter(action="sso.connection_updated").latest("id")
    assert event.before == {
        "enabled": True,
        "jit_enabled": False,
        "default_role": "viewer",
        "group_role_mapping": [],
    }
    assert event.after["group_role_mapping"] == ["Engineering → developer", "IT → admin"]

    refused = client.patch(url, {"enforce": True}, format="json")
    assert assert_envelope(refused, 400, "validation_error")["fields"].keys() == {"enforce"}
    not_owner = client.patch(
        url, {"enforce": True, "breakGlassOwners": [dev_member.public_id]}, format="json"
    )
    assert "breakGlassOwners" in assert_envelope(not_owner, 400, "validation_error")["fields"]
    assert SsoConnection.objects.get().enforce is False

    enforced = client.patch(
        url, {"enforce": True, "breakGlassOwners": [owner_member.public_id]}, format="json"
    )
    assert enforced.status_code == 200, enforced.content
    assert enforced.json()["enforce"] is True
    assert enforced.json()["breakGlassOwners"] == [owner_member.public_id]


def test_patch_the_secret_reencrypts_it_and_clears_the_check(org, owner, api):
    client = api(owner)
    pid = create(client, org).json()["providerId"]
    SsoConnection.objects.filter(provider_id=pid).update(check_status="ok")
    before = SsoConnection.objects.get().oidc_client_secret
    url = f"/api/orgs/{org.public_id}/sso/{pid}"

    response = client.patch(url, {"clientSecret": "rotated-secret-9"}, format="json")

    assert response.status_code == 200 and "rotated-secret-9" not in response.content.decode()
    connection = SsoConnection.objects.get()
    assert connection.oidc_client_secret != before
    assert crypto.decrypt(connection.oidc_client_secret) == "rotated-secret-9"
    # A new secret runs the check again (this issuer does not resolve).
    assert response.json()["check"]["status"] == "failed"
    assert response.json()["check"]["reason"] == "dns"
    event = AuditEvent.objects.filter(action="sso.connection_updated").latest("id")
    assert event.after == {"client_secret_set": True}
    assert "rotated-secret-9" not in json.dumps([event.before, event.after])

    # Changing only a setting the check did not read keeps its result.
    SsoConnection.objects.filter(provider_id=pid).update(check_status="ok")
    client.patch(url, {"jitEnabled": True}, format="json")
    assert SsoConnection.objects.get().check_status == "ok"


def test_patch_can_switch_type_and_domains(org, owner, api):
    client = api(owner)
    pid = create(client, org).json()["providerId"]
    url = f"/api/orgs/{org.public_id}/sso/{pid}"

    incomplete = client.patch(url, {"type": "saml"}, format="json")
    assert "metadataXml" in assert_envelope(incomplete, 400, "validation_error")["fields"]

    response = client.patch(
        url,
        {"type": "saml", "metadataXml": METADATA, "domains": ["a.com", "b.com"]},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["type"] == "saml" and "acsUrl" in body
    assert [d["domain"] for d in body["domains"]] == ["a.com", "b.com"]
    connection = SsoConnection.objects.get()
    assert connection.oidc_client_secret == "" and connection.oidc_issuer == ""
    # example.com stays claimed, routing nothing.
    assert SsoDomain.objects.get(name="example.com").connection is None


def test_a_domain_routes_to_one_connection(org, owner, api):
    client = api(owner)
    create(client, org)
    second = create(client, org, oidc_body())
    assert "domain" in assert_envelope(second, 400, "validation_error")["fields"]
    assert SsoConnection.objects.count() == 1


def test_delete_removes_the_connection_and_keeps_the_domain(org, owner, api):
    client = api(owner)
    pid = create(client, org).json()["providerId"]
    response = client.delete(f"/api/orgs/{org.public_id}/sso/{pid}")
    assert response.status_code == 204
    assert not SsoConnection.objects.exists()
    assert SsoDomain.objects.get().connection is None
    assert AuditEvent.objects.filter(action="sso.connection_deleted", target_id=pid).exists()
    assert_envelope(client.get(f"/api/orgs/{org.public_id}/sso/{pid}"), 404, "not_found")


# --- domains ---------------------------------------------------------------------------------


def test_domains_list_their_txt_records(org, owner, api):
    claim(org, owner, "example.com")
    claim(org, owner, "b.example.org")
    response = api(owner).get(f"/api/orgs/{org.public_id}/domains")
    assert response.status_code == 200
    domains = response.json()["domains"]
    assert [d["domain"] for d in domains] == ["b.example.org", "example.com"]
    for listed in domains:
        stored = SsoDomain.objects.get(name=listed["asciiDomain"])
        assert listed["txtRecord"]["value"] == stored.token
        assert listed["status"] == "pending" and listed["lastCheck"]["result"] is None


def test_claim_then_verify_through_the_api(org, owner, api, nameserver):
    client = api(owner)
    claimed = client.post(
        f"/api/orgs/{org.public_id}/domains", {"domain": "Example.com"}, format="json"
    )
    assert claimed.status_code == 201, claimed.content
    record = claimed.json()["txtRecord"]

    pending = client.post(f"/api/orgs/{org.public_id}/domains/example.com/verify")
    assert pending.status_code == 200
    assert pending.json()["status"] == "pending"
    assert pending.json()["lastCheck"]["result"] == "missing"

    nameserver.publish(record["name"], record["value"])
    done = client.post(f"/api/orgs/{org.public_id}/domains/EXAMPLE.com/verify")
    assert done.status_code == 200
    assert done.json()["status"] == "verified" and done.json()["verifiedAt"]

    again = client.post(
        f"/api/orgs/{org.public_id}/domains", {"domain": "example.com"}, format="json"
    )
    assert_envelope(again, 400, "validation_error")
    assert_envelope(
        client.post(f"/api/orgs/{org.public_id}/domains/nope.com/verify"), 404, "not_found"
    )


def test_verify_a_domain_another_org_holds_is_409(org, owner, api, nameserver):
    rival_owner = UserFactory()
    rival = team(rival_owner, "Globex")
    for o, u in ((org, owner), (rival, rival_owner)):
        d = claim(o, u)
        nameserver.publish(d.record_name, *nameserver.records.get(d.record_name, []), d.token)
    assert (
        api(owner).post(f"/api/orgs/{org.public_id}/domains/example.com/verify").status_code == 200
    )

    response = api(rival_owner).post(f"/api/orgs/{rival.public_id}/domains/example.com/verify")

    error = assert_envelope(response, 409, "domain_taken")
    assert "example.com" in error["message"]
    assert SsoDomain.objects.get(organization=rival).verified_at is None


def test_removing_a_claim_audits_it(org, owner, api):
    claim(org, owner)
    response = api(owner).delete(f"/api/orgs/{org.public_id}/domains/example.com")
    assert response.status_code == 204
    assert not SsoDomain.objects.exists()
    assert AuditEvent.objects.filter(action="sso.domain_removed").exists()


def test_the_database_refuses_owner_as_the_default_role(org):
    with pytest.raises(IntegrityError), transaction.atomic():
        SsoConnection.objects.create(organization=org, type="saml", default_role=Role.OWNER)


def test_listing_connections_costs_the_same_for_one_or_many(org, owner, api):
    client = api(owner)
    create(client, org, oidc_body(domain="one.example.com"))
    url = f"/api/orgs/{org.public_id}/sso"
    client.get(url)  # session and organization lookups warmed alike
    with CaptureQueriesContext(db) as one:
        client.get(url)
    for n in range(4):
        create(
            client, org, oidc_body(domains=[f"{n}.example.com", f"{n}.example.org"], domain=None)
        )
    with CaptureQueriesContext(db) as many:
        response = client.get(url)
    assert len(response.json()["connections"]) == 5
    assert len(many) == len(one)
