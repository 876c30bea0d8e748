"""The save-time check: OIDC discovery (stored as passed or with its exact reason), SAML
metadata parsed from pasted XML or a URL fetched through outbound (certificates with their
fingerprints and expiry; invalid metadata is a 400 that changes nothing; SHA-1-only and
expired certificates flagged). Against the real loopback IdPs and against failures."""

import json
import socket

import pytest

from orgs.models import AuditEvent
from sso.models import SsoConnection
from tests.httpstub import HttpStub, Route

from .conftest import assert_envelope
from .metadata import SHA1, SHA256, certificate, fingerprint, idp_metadata

pytestmark = pytest.mark.django_db


@pytest.fixture
def stub():
    server = HttpStub()
    yield server
    server.close()


def dead_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def create(api, org, owner, **body):
    body = {"domain": "example.com", **body}
    return api(owner).post(f"/api/orgs/{org.public_id}/sso", body, format="json")


def create_oidc(api, org, owner, issuer: str):
    return create(
        api, org, owner, type="oidc", issuer=issuer, clientId="console", clientSecret="s3cret"
    )


def test_oidc_against_the_real_provider_passes(org, owner, api, oidc_idp):
    response = create_oidc(api, org, owner, oidc_idp.issuer)

    assert response.status_code == 201, response.content
    check = response.json()["check"]
    assert check["status"] == "ok" and check["reason"] == "" and check["checkedAt"]


def _discovery(issuer: str) -> bytes:
    return json.dumps(
        {
            "issuer": issuer,
            "authorization_endpoint": f"{issuer}/auth",
            "token_endpoint": f"{issuer}/token",
            "jwks_uri": f"{issuer}/jwks",
        }
    ).encode()


@pytest.mark.parametrize(
    ("answer", "reason"),
    [
        (Route(body=b"{not json", headers={"Content-Type": "application/json"}), "json"),
        (Route(body=_discovery("https://someone-else.example")), "issuer_mismatch"),
        (Route(status=500, body=b"oops"), "status"),
    ],
)
def test_oidc_failures_are_stored_with_their_reason(org, owner, api, stub, answer, reason):
    stub.routes["/.well-known/openid-configuration"] = answer

    response = create_oidc(api, org, owner, stub.base_url)

    assert response.status_code == 201, response.content
    check = response.json()["check"]
    assert check["status"] == "failed" and check["reason"] == reason, check
    assert "127.0.0.1" in check["message"] or reason == "issuer_mismatch"
    stored = SsoConnection.objects.get()
    assert stored.check_status == "failed" and stored.check_reason == reason
    assert stored.check_detail_code and stored.check_message == check["message"]


def test_oidc_a_dead_port_is_a_connect_failure(org, owner, api):
    response = create_oidc(api, org, owner, f"http://127.0.0.1:{dead_port()}")

    assert response.json()["check"]["reason"] == "connect"


def test_oidc_a_private_address_is_refused_when_not_allowed(org, owner, api, stub, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    stub.routes["/.well-known/openid-configuration"] = Route(body=_discovery(stub.base_url))
    issuer = f"https://127.0.0.1:{stub.port}"

    response = create_oidc(api, org, owner, issuer)

    assert response.json()["check"]["reason"] == "private_address"
    assert stub.requests == []  # nothing was sent to it


def test_http_issuer_is_refused_unless_private_outbound_is_allowed(org, owner, api, settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    response = create_oidc(api, org, owner, "http://127.0.0.1:9")
    assert "issuer" in assert_envelope(response, 400, "validation_error")["fields"]
    assert not SsoConnection.objects.exists()


def test_oidc_patch_of_the_issuer_checks_again_other_changes_do_not(
    org, owner, api, stub, oidc_idp
):
    stub.routes["/.well-known/openid-configuration"] = Route(body=b"[]")
    pid = create_oidc(api, org, owner, stub.base_url).json()["providerId"]
    url = f"/api/orgs/{org.public_id}/sso/{pid}"
    assert SsoConnection.objects.get().check_status == "failed"

    fixed = api(owner).patch(url, {"issuer": oidc_idp.issuer}, format="json")
    assert fixed.json()["check"]["status"] == "ok"

    fetched = len(stub.requests)
    api(owner).patch(url, {"jitEnabled": True}, format="json")
    assert SsoConnection.objects.get().check_status == "ok"
    api(owner).patch(url, {"issuer": stub.base_url}, format="json")
    assert len(stub.requests) == fetched + 1
    assert SsoConnection.objects.get().check_status == "failed"


def test_saml_metadata_url_of_the_real_idp_is_parsed(org, owner, api, saml_idp):
    response = create(api, org, owner, type="saml", metadataUrl=saml_idp.metadata_url)

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["check"]["status"] == "ok"
    assert body["idpEntityId"] == saml_idp.entity_id
    assert body["idpSsoUrl"].startswith(saml_idp.base_url)
    [cert] = body["certificates"]
    from cryptography import x509  # noqa: PLC0415 - only this test reads the IdP's PEM

    expected = fingerprint(x509.load_pem_x509_certificate(saml_idp.cert_pem.encode()))
    assert cert["sha256Fingerprint"] == expected
    assert cert["expired"] is False and cert["notAfter"]


def test_saml_pasted_metadata_with_a_rollover_certificate(org, owner, api):
    current, upcoming = certificate("current"), certificate("next", days=700)

    response = create(api, org, owner, type="saml", metadataXml=idp_metadata(current, upcoming))

    body = response.json()
    assert [c["sha256Fingerprint"] for c in body["certificates"]] == [
        fingerprint(current),
        fingerprint(upcoming),
    ]
    stored = SsoConnection.objects.get()
    assert stored.saml_certificate and stored.saml_certificate_next


@pytest.mark.parametrize(
    "xml",
    [
        "<not-metadata/>",
        '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>',
        idp_metadata().replace("X509Certificate>", "Nothing>"),
        "<unclosed",
    ],
)
def test_invalid_metadata_is_a_400_and_changes_nothing(org, owner, api, xml):
    response = create(api, org, owner, type="saml", metadataXml=xml)

    assert "metadataXml" in assert_envelope(response, 400, "validation_error")["fields"]
    assert not SsoConnection.objects.exists()
    assert not AuditEvent.objects.filter(action="sso.connection_created").exists()


def test_invalid_metadata_in_a_patch_changes_nothing(org, owner, api):
    pid = create(api, org, owner, type="saml", metadataXml=idp_metadata()).json()["providerId"]
    before = SsoConnection.objects.values().get()

    response = api(owner).patch(
        f"/api/orgs/{org.public_id}/sso/{pid}", {"metadataXml": "<nope/>"}, format="json"
    )

    assert_envelope(response, 400, "validation_error")
    assert SsoConnection.objects.values().get() == before


@pytest.mark.parametrize("private_allowed", [False, True])
def test_metadata_url_failures_are_field_errors(org, owner, api, settings, private_allowed):
    settings.ALLOW_PRIVATE_OUTBOUND = private_allowed
    url = f"https://127.0.0.1:{dead_port()}/metadata"

    response = create(api, org, owner, type="saml", metadataUrl=url)

    error = assert_envelope(response, 400, "validation_error")
    assert "could not be fetched" in error["fields"]["metadataUrl"][0]
    assert not SsoConnection.objects.exists()


def test_sha1_only_metadata_is_flagged(org, owner, api):
    xml = idp_metadata(algorithms=(SHA1,))

    body = create(api, org, owner, type="saml", metadataXml=xml).json()

    assert body["check"]["status"] == "failed" and body["check"]["reason"] == "sha1_only"
    assert "SHA-256" in body["check"]["message"]
    assert body["idpEntityId"] == "https://idp.example.com/saml"  # still parsed and stored


def test_sha256_alongside_sha1_is_not_flagged(org, owner, api):
    xml = idp_metadata(algorithms=(SHA1, SHA256))

    assert create(api, org, owner, type="saml", metadataXml=xml).json()["check"]["status"] == "ok"


def test_expired_certificates_are_flagged(org, owner, api):
    old, fresh = certificate("old", days=-3), certificate("fresh")

    only_old = create(api, org, owner, type="saml", metadataXml=idp_metadata(old)).json()
    assert only_old["check"]["reason"] == "certificate_expired"
    assert only_old["certificates"][0]["expired"] is True

    body = create(
        api, org, owner, type="saml", metadataXml=idp_metadata(old, fresh), domain="b.example"
    ).json()
    assert body["check"]["status"] == "ok"
    assert [c["expired"] for c in body["certificates"]] == [True, False]


def test_the_page_shows_the_check_fingerprints_and_sp_metadata(org, owner, api, web, settings):
    settings.SITE_URL = "https://console.example.net"
    old, fresh = certificate("old", days=-3), certificate("fresh")
    pid = create(api, org, owner, type="saml", metadataXml=idp_metadata(old, fresh)).json()[
        "providerId"
    ]
    client = web(owner, org)

    page = client.get(f"/settings/organization/sso/{pid}").content.decode()

    assert fingerprint(old) in page and fingerprint(fresh) in page
    assert "Expired" in page and "Passed" in page
    download = client.get(f"/settings/organization/sso/{pid}/sp-metadata.xml")
    assert download.status_code == 200
    assert download["Content-Type"].startswith("application/samlmetadata+xml")
    assert "attachment" in download["Content-Disposition"]
    xml = download.content.decode()
    assert f'entityID="https://console.example.net/api/auth/sso/{pid}/metadata"' in xml
    assert f'Location="https://console.example.net/api/auth/sso/{pid}"' in xml


@pytest.mark.parametrize(
    "body",
    [
        {"metadataXml": idp_metadata().replace("idp.example.com/sso", "idp\x00.example.com")},
        {"metadataUrl": "https://idp.example.com/\x00md"},
        {"issuer": "https://login\x00.example.com"},
    ],
)
def test_hostile_input_in_checked_fields_is_a_400_and_fetches_nothing(org, owner, api, stub, body):
    kind = "oidc" if "issuer" in body else "saml"
    extra = {"clientId": "c", "clientSecret": "s"} if kind == "oidc" else {}

    response = create(api, org, owner, type=kind, **body, **extra)

    assert_envelope(response, 400, "validation_error")
    assert not SsoConnection.objects.exists()


def test_a_metadata_url_failure_in_a_patch_changes_nothing(org, owner, api):
    pid = create(api, org, owner, type="saml", metadataXml=idp_metadata()).json()["providerId"]
    before = SsoConnection.objects.values().get()

    response = api(owner).patch(
        f"/api/orgs/{org.public_id}/sso/{pid}",
        {"metadataUrl": f"http://127.0.0.1:{dead_port()}/md"},
        format="json",
    )

    assert "metadataUrl" in assert_envelope(response, 400, "validation_error")["fields"]
    assert SsoConnection.objects.values().get() == before
