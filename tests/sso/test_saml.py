"""SAML against a real IdP (saml-idp on loopback): a real signed response validates; unsigned,
altered, misaddressed, expired, SHA-1 and unsolicited ones are refused.

Tampered responses start from a real one. Where the tampering must survive the signature
check (to prove the *other* check refuses it), the assertion is signed again with the IdP's
own key, as a compromised or sloppy IdP would sign it; ``test_a_resigned_untouched_response_
validates`` shows that re-signing by itself changes nothing.
"""

import base64
import datetime as dt
import hashlib
import zlib
from urllib.parse import parse_qs, urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from lxml import etree
from onelogin.saml2.constants import OneLogin_Saml2_Constants as C
from onelogin.saml2.utils import OneLogin_Saml2_Utils

from hypereal_site.outbound import OutboundError
from sso import saml
from tests.sso.idps import _pem, _self_signed

NS = saml.NS


@pytest.fixture
def connection(saml_idp) -> saml.SamlConnection:
    metadata = saml.fetch_idp_metadata(saml_idp.metadata_url)
    return saml.SamlConnection(
        provider_id=saml_idp.provider_id,
        idp_entity_id=metadata.entity_id,
        idp_sso_url=metadata.sso_url,
        idp_certificates=tuple(c.pem for c in metadata.certificates),
        attribute_mapping={"email": "email", "first_name": "firstName"},
    )


@pytest.fixture
def real(saml_idp, connection):
    """A fresh real response from the IdP and the id of the request it answers."""
    request = saml.build_authn_request(connection)
    return saml_idp.sign_in(request.url), request.request_id


def _doc(response: str) -> etree._Element:
    return etree.fromstring(base64.b64decode(response))


def _encode(doc: etree._Element) -> str:
    return base64.b64encode(etree.tostring(doc)).decode()


def _strip_signatures(doc: etree._Element) -> None:
    for signature in doc.xpath("//ds:Signature", namespaces=NS):
        signature.getparent().remove(signature)


def _resign(
    saml_idp,
    response: str,
    mutate=lambda doc: None,
    *,
    key=None,
    cert_pem=None,
    sign_algorithm=C.RSA_SHA256,
    digest_algorithm=C.SHA256,
) -> str:
    """The real response, every signature removed, ``mutate``d, its assertion signed again."""
    doc = _doc(response)
    _strip_signatures(doc)
    mutate(doc)
    key = key or saml_idp.key
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    assertion = doc.find("saml:Assertion", NS)
    signed = OneLogin_Saml2_Utils.add_sign(
        etree.tostring(assertion),
        key_pem,
        cert_pem or saml_idp.cert_pem,
        sign_algorithm=sign_algorithm,
        digest_algorithm=digest_algorithm,
    )
    doc.replace(assertion, etree.fromstring(signed))
    return _encode(doc)


def _refused(connection, response, request_id, reason):
    with pytest.raises(saml.SamlError) as caught:
        saml.validate_response(connection, response, expected_request_id=request_id)
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.message


def _set_times(doc, *, not_before=None, not_on_or_after=None):
    def stamp(t):
        return t.strftime("%Y-%m-%dT%H:%M:%SZ")

    for el in doc.xpath("//saml:Conditions | //saml:SubjectConfirmationData", namespaces=NS):
        if not_before is not None and el.get("NotBefore") is not None:
            el.set("NotBefore", stamp(not_before))
        if not_before is not None and el.tag.endswith("Conditions"):
            el.set("NotBefore", stamp(not_before))
        if not_on_or_after is not None:
            el.set("NotOnOrAfter", stamp(not_on_or_after))


# --- What passes ----------------------------------------------------------------------------


def test_a_real_signed_response_validates(saml_idp, connection, real):
    response, request_id = real
    assertion = saml.validate_response(connection, response, expected_request_id=request_id)
    doc = _doc(response)
    assert assertion.name_id == "saml.jackson@example.com"
    assert assertion.in_response_to == request_id
    assert assertion.message_id == doc.get("ID")
    assert assertion.assertion_id == doc.find("saml:Assertion", NS).get("ID")
    assert assertion.mapped == {"email": "saml.jackson@example.com", "first_name": "Saml"}
    assert assertion.attributes["lastName"] == ["Jackson"]
    now = dt.datetime.now(dt.UTC)
    assert now < assertion.not_on_or_after <= now + dt.timedelta(hours=1, minutes=1)


def test_a_resigned_untouched_response_validates(saml_idp, connection, real):
    response, request_id = real
    resigned = _resign(saml_idp, response)
    assert resigned != response
    assertion = saml.validate_response(connection, resigned, expected_request_id=request_id)
    assert assertion.name_id == "saml.jackson@example.com"


def test_a_second_certificate_for_rollover_is_trusted(saml_idp, connection, real):
    response, request_id = real
    _, new_cert = _self_signed("next year's IdP certificate")
    rolled = saml.SamlConnection(
        **{**connection.__dict__, "idp_certificates": (_pem(new_cert), saml_idp.cert_pem)}
    )
    assert saml.validate_response(rolled, response, expected_request_id=request_id).name_id


def test_idp_initiated_only_when_the_connection_allows_it(saml_idp, connection, real):
    response, _ = real

    def unsolicited(doc):
        doc.attrib.pop("InResponseTo")
        for scd in doc.xpath("//saml:SubjectConfirmationData", namespaces=NS):
            scd.attrib.pop("InResponseTo")

    response = _resign(saml_idp, response, unsolicited)
    _refused(connection, response, None, "in_response_to")
    allowing = saml.SamlConnection(**{**connection.__dict__, "allow_idp_initiated": True})
    assertion = saml.validate_response(allowing, response, expected_request_id=None)
    assert assertion.in_response_to is None
    # ...and an unsolicited response is no answer to a request we did send.
    _refused(allowing, response, "ONELOGIN_a_request_we_sent", "in_response_to")


def test_a_small_clock_skew_is_tolerated(saml_idp, connection, real):
    response, request_id = real
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=60)
    response = _resign(saml_idp, response, lambda doc: _set_times(doc, not_before=soon))
    assert saml.validate_response(connection, response, expected_request_id=request_id)


# --- What is refused ------------------------------------------------------------------------


def test_an_unsigned_response_is_refused(connection, real):
    response, request_id = real
    doc = _doc(response)
    _strip_signatures(doc)
    _refused(connection, _encode(doc), request_id, "signature")


def test_a_signed_response_without_a_signed_assertion_is_refused(saml_idp, connection, real):
    response, request_id = real
    doc = _doc(response)
    assertion_signature = doc.find("saml:Assertion/ds:Signature", NS)
    assertion_signature.getparent().remove(assertion_signature)
    assert doc.find("ds:Signature", NS) is not None  # the response's own is still there
    _refused(connection, _encode(doc), request_id, "signature")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda doc: setattr(doc.find(".//saml:NameID", NS), "text", "ceo@example.com"),
        lambda doc: setattr(
            doc.find(".//saml:Attribute[@Name='email']/saml:AttributeValue", NS),
            "text",
            "ceo@example.com",
        ),
    ],
    ids=["name_id", "attribute"],
)
def test_a_response_altered_after_signing_is_refused(connection, real, tamper):
    response, request_id = real
    doc = _doc(response)
    tamper(doc)
    _refused(connection, _encode(doc), request_id, "signature")


def test_a_response_signed_by_another_key_is_refused(saml_idp, connection, real):
    response, request_id = real
    key, cert = _self_signed("an attacker")
    forged = _resign(saml_idp, response, key=key, cert_pem=_pem(cert))
    _refused(connection, forged, request_id, "signature")


def test_sha1_signatures_are_refused(saml_idp, connection, real):
    response, request_id = real
    sha1 = _resign(saml_idp, response, sign_algorithm=C.RSA_SHA1, digest_algorithm=C.SHA1)
    _refused(connection, sha1, request_id, "algorithm")


def test_a_wrong_audience_is_refused(saml_idp, connection, real):
    response, request_id = real

    def other_audience(doc):
        doc.find(".//saml:Audience", NS).text = "https://other-sp.example/metadata"

    _refused(connection, _resign(saml_idp, response, other_audience), request_id, "audience")


def test_a_missing_audience_is_refused(saml_idp, connection, real):
    response, request_id = real

    def no_audience(doc):
        restriction = doc.find(".//saml:AudienceRestriction", NS)
        restriction.getparent().remove(restriction)

    _refused(connection, _resign(saml_idp, response, no_audience), request_id, "audience")


@pytest.mark.parametrize(
    "destination", ["https://other-sp.example/acs", None], ids=["other", "missing"]
)
def test_a_wrong_or_missing_destination_is_refused(saml_idp, connection, real, destination):
    response, request_id = real

    def readdress(doc):
        if destination is None:
            doc.attrib.pop("Destination")
        else:
            doc.set("Destination", destination)

    _refused(connection, _resign(saml_idp, response, readdress), request_id, "destination")


def test_a_wrong_recipient_is_refused(saml_idp, connection, real):
    response, request_id = real

    def readdress(doc):
        for scd in doc.xpath("//saml:SubjectConfirmationData", namespaces=NS):
            scd.set("Recipient", f"{saml.acs_url(connection.provider_id)}-evil")

    _refused(connection, _resign(saml_idp, response, readdress), request_id, "subject_confirmation")


def test_a_wrong_issuer_is_refused(saml_idp, connection, real):
    response, request_id = real

    def reissue(doc):
        for issuer in doc.xpath("//saml:Issuer", namespaces=NS):
            issuer.text = "urn:another:idp"

    _refused(connection, _resign(saml_idp, response, reissue), request_id, "issuer")


def test_an_expired_response_is_refused(saml_idp, connection, real):
    response, request_id = real
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    response = _resign(saml_idp, response, lambda doc: _set_times(doc, not_on_or_after=past))
    _refused(connection, response, request_id, "time")


def test_a_response_not_valid_yet_is_refused(saml_idp, connection, real):
    response, request_id = real
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    response = _resign(saml_idp, response, lambda doc: _set_times(doc, not_before=later))
    _refused(connection, response, request_id, "time")


def test_past_the_skew_is_refused_by_our_own_window(saml_idp, connection, real):
    """python3-saml allows 5 minutes of drift; ours is CLOCK_SKEW (2 minutes)."""
    response, request_id = real
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=200)
    response = _resign(saml_idp, response, lambda doc: _set_times(doc, not_before=soon))
    _refused(connection, response, request_id, "time")


def test_an_unknown_in_response_to_is_refused(connection, real):
    response, _ = real
    _refused(connection, response, "ONELOGIN_another_request", "in_response_to")


def test_a_solicited_response_needs_the_request_id(connection, real):
    response, _ = real
    _refused(connection, response, None, "in_response_to")


def test_a_second_forged_assertion_is_refused(saml_idp, connection, real):
    """Signature wrapping: the signed assertion kept, a forged one put in front of it."""
    response, request_id = real
    doc = _doc(response)
    signed = doc.find("saml:Assertion", NS)
    forged = etree.fromstring(etree.tostring(signed))
    forged.find("ds:Signature", NS).getparent().remove(forged.find("ds:Signature", NS))
    forged.set("ID", "_forged")
    forged.find(".//saml:NameID", NS).text = "ceo@example.com"
    signed.addprevious(forged)
    with pytest.raises(saml.SamlError):
        saml.validate_response(connection, _encode(doc), expected_request_id=request_id)


@pytest.mark.parametrize(
    "garbage",
    ["", "not base64 !!", base64.b64encode(b"<not-saml/>").decode(), "PHg+\x00", "A" * 300_000],
    ids=["empty", "not-base64", "not-saml", "nul", "huge"],
)
def test_garbage_is_refused_as_malformed(connection, garbage):
    _refused(connection, garbage, "ONELOGIN_x", "malformed")


def test_an_entity_bomb_is_refused(connection):
    bomb = (
        '<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]><r>&b;</r>'
    )
    _refused(connection, base64.b64encode(bomb.encode()).decode(), "ONELOGIN_x", "malformed")


# --- Metadata and the request ---------------------------------------------------------------


def test_idp_metadata_gives_entity_id_sso_url_and_certificates(saml_idp):
    metadata = saml.fetch_idp_metadata(saml_idp.metadata_url)
    assert metadata.entity_id == saml_idp.entity_id
    assert metadata.sso_url == f"{saml_idp.base_url}/saml/sso"
    cert = x509.load_pem_x509_certificate(saml_idp.cert_pem.encode())
    der = cert.public_bytes(serialization.Encoding.DER)
    [only] = metadata.certificates
    assert only.sha256_fingerprint.replace(":", "") == hashlib.sha256(der).hexdigest().upper()
    assert only.not_valid_after == cert.not_valid_after_utc
    assert not only.expires_within(30)
    assert only.expires_within(400)


def test_idp_metadata_with_two_certificates_keeps_both(saml_idp):
    xml = saml.outbound.fetch(saml_idp.metadata_url).body
    doc = etree.fromstring(xml)
    _, new_cert = _self_signed("rollover")
    key_descriptor = doc.find(".//md:KeyDescriptor", NS)
    second = etree.fromstring(etree.tostring(key_descriptor))
    second.find(".//ds:X509Certificate", NS).text = "".join(_pem(new_cert).splitlines()[1:-1])
    key_descriptor.addnext(second)
    encryption_only = etree.fromstring(etree.tostring(second))
    encryption_only.set("use", "encryption")
    second.addnext(encryption_only)
    metadata = saml.parse_idp_metadata(etree.tostring(doc))
    assert len(metadata.certificates) == 2
    assert len({c.sha256_fingerprint for c in metadata.certificates}) == 2


@pytest.mark.parametrize(
    ("xml", "complaint"),
    [
        (b"not xml", "not a valid XML document"),
        (
            b'<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"/>',
            "describes no identity provider",
        ),
        # Refused by the parser itself (no DTD, no entities), not for lack of an IdP:
        (b'<!DOCTYPE r [<!ENTITY a "a">]><r>&a;</r>', "not a valid XML document"),
    ],
    ids=["not-xml", "no-idp", "dtd"],
)
def test_bad_idp_metadata_is_refused(xml, complaint):
    with pytest.raises(saml.SamlError) as caught:
        saml.parse_idp_metadata(xml)
    assert caught.value.reason == "metadata"
    assert complaint in caught.value.message


def test_metadata_at_a_private_address_is_refused_without_the_setting(settings):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    with pytest.raises(OutboundError) as caught:
        saml.fetch_idp_metadata("https://10.1.2.3/metadata")
    assert caught.value.reason == "private_address"


def test_sp_metadata_names_our_entity_id_and_acs(settings):
    settings.SITE_URL = "https://console.example.com"
    doc = etree.fromstring(saml.sp_metadata("acme-okta").encode())
    assert doc.get("entityID") == "https://console.example.com/api/auth/sso/acme-okta/metadata"
    acs = doc.find(".//md:AssertionConsumerService", NS)
    assert acs.get("Location") == "https://console.example.com/api/auth/sso/acme-okta"
    assert acs.get("Binding") == C.BINDING_HTTP_POST
    assert doc.find(".//md:SPSSODescriptor", NS).get("WantAssertionsSigned") == "true"


def test_the_authn_request_carries_its_id_and_our_acs(saml_idp, connection):
    request = saml.build_authn_request(connection, relay_state="/next")
    query = parse_qs(urlsplit(request.url).query)
    assert request.url.startswith(connection.idp_sso_url + "?")
    assert query["RelayState"] == ["/next"]
    xml = zlib.decompress(base64.b64decode(query["SAMLRequest"][0]), -15)
    doc = etree.fromstring(xml)
    assert doc.get("ID") == request.request_id
    assert doc.get("AssertionConsumerServiceURL") == saml.acs_url(connection.provider_id)
    assert doc.get("Destination") == connection.idp_sso_url
    assert request.request_id != saml.build_authn_request(connection).request_id
