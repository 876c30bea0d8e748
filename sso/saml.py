"""SAML 2.0 for corporate sign-in, on python3-saml (OneLogin's toolkit), used directly.

Plain functions over plain dataclasses: the caller (the sign-in views) turns its connection row
into a :class:`SamlConnection`, stores the request id that :func:`build_authn_request` returns,
and after :func:`validate_response` handles the replay cache (the assertion id until its
NotOnOrAfter) and the identity (the NameID). See docs/sso.md, "How sign-in is verified".

What a response must be to pass :func:`validate_response` (python3-saml in strict mode, plus
the checks it leaves out):

- one assertion, **signed** (a signed response alone is not enough), by one of the connection's
  certificates; RSA/ECDSA with SHA-256 or better — SHA-1 signatures and digests are refused;
- the response's ``Destination`` present and equal to our ACS URL; a bearer
  ``SubjectConfirmationData`` whose ``Recipient`` equals it too and whose ``NotOnOrAfter`` is
  present;
- an ``Audience`` equal to our SP entity id (a missing audience restriction is refused);
- ``Issuer`` equal to the IdP's entity id; status Success;
- ``Conditions`` ``NotBefore``/``NotOnOrAfter`` within :data:`CLOCK_SKEW` of now;
- ``InResponseTo`` (on the response and on the subject confirmation) equal to the id we sent;
  a response without one (IdP-initiated) only when the caller allows it and expects no id.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from onelogin.saml2.auth import OneLogin_Saml2_Auth
from onelogin.saml2.constants import OneLogin_Saml2_Constants
from onelogin.saml2.errors import OneLogin_Saml2_ValidationError as VE
from onelogin.saml2.response import OneLogin_Saml2_Response
from onelogin.saml2.settings import OneLogin_Saml2_Settings
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from onelogin.saml2.xml_utils import OneLogin_Saml2_XML

from hypereal_site import outbound

CLOCK_SKEW = dt.timedelta(seconds=120)
MAX_RESPONSE_BYTES = 256 * 1024  # the base64 SAMLResponse form field
MAX_METADATA_BYTES = 1_000_000
NS = {
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
}
BINDING_REDIRECT = OneLogin_Saml2_Constants.BINDING_HTTP_REDIRECT
BINDING_POST = OneLogin_Saml2_Constants.BINDING_HTTP_POST


class SamlError(Exception):
    """A metadata document or a response that was refused; ``reason`` says why."""

    def __init__(self, reason: str, message: str):
        super().__init__(message)
        self.reason = reason
        self.message = message

    def __str__(self) -> str:
        return self.message


# --- Data -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class IdpCertificate:
    pem: str
    sha256_fingerprint: str  # "AB:CD:…", as IdP admin consoles show it
    not_valid_before: dt.datetime
    not_valid_after: dt.datetime
    subject: str

    @classmethod
    def from_text(cls, text: str) -> IdpCertificate:
        """A certificate from PEM or bare base64 DER (as metadata carries it)."""
        body = "".join(
            line.strip()
            for line in text.strip().splitlines()
            if line.strip() and not line.startswith("-----")
        )
        try:
            der = base64.b64decode(body, validate=True)
            cert = x509.load_der_x509_certificate(der)
        except (ValueError, binascii.Error) as exc:
            raise SamlError("certificate", _("A signing certificate could not be read.")) from exc
        digest = hashlib.sha256(der).hexdigest().upper()
        pem = "-----BEGIN CERTIFICATE-----\n"
        pem += "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
        pem += "\n-----END CERTIFICATE-----\n"
        return cls(
            pem=pem,
            sha256_fingerprint=":".join(digest[i : i + 2] for i in range(0, len(digest), 2)),
            not_valid_before=cert.not_valid_before_utc,
            not_valid_after=cert.not_valid_after_utc,
            subject=cert.subject.rfc4514_string(),
        )

    def expires_within(self, days: int, *, now: dt.datetime | None = None) -> bool:
        now = now or dt.datetime.now(dt.UTC)
        return self.not_valid_after <= now + dt.timedelta(days=days)


@dataclass(frozen=True)
class IdpMetadata:
    entity_id: str
    sso_url: str
    sso_binding: str
    certificates: tuple[IdpCertificate, ...]  # signing certificates; two during a rollover


@dataclass(frozen=True)
class SamlConnection:
    """What the protocol needs of a SAML connection (the caller builds it from its row)."""

    provider_id: str
    idp_entity_id: str
    idp_sso_url: str
    idp_certificates: tuple[str, ...]  # PEM or base64 DER; every one is trusted
    # our name -> the IdP's attribute name, e.g. {"email": "urn:oid:0.9.2342.19200300.100.1.3"}
    attribute_mapping: Mapping[str, str] = field(default_factory=dict)
    allow_idp_initiated: bool = False


@dataclass(frozen=True)
class AuthnRequest:
    url: str  # where to redirect the browser
    request_id: str  # store it; pass it back to validate_response as expected_request_id


@dataclass(frozen=True)
class SamlAssertion:
    name_id: str
    name_id_format: str | None
    assertion_id: str
    message_id: str
    not_on_or_after: dt.datetime  # keep the assertion id in the replay cache until then
    session_index: str | None
    in_response_to: str | None
    attributes: dict[str, list[str]]  # every attribute the IdP sent
    mapped: dict[str, str]  # the attribute mapping applied (first value of each)


# --- URLs of our side -----------------------------------------------------------------------


def acs_url(provider_id: str) -> str:
    return f"{settings.SITE_URL}/api/auth/sso/{provider_id}"


def sp_entity_id(provider_id: str) -> str:
    return f"{settings.SITE_URL}/api/auth/sso/{provider_id}/metadata"


def _request_data(provider_id: str, *, get=None, post=None) -> dict:
    parts = urlsplit(acs_url(provider_id))
    return {
        "https": "on" if parts.scheme == "https" else "off",
        "http_host": parts.netloc,
        "script_name": parts.path,
        "get_data": dict(get or {}),
        "post_data": dict(post or {}),
    }


def _settings(connection: SamlConnection, *, sp_only: bool = False) -> OneLogin_Saml2_Settings:
    certs = [IdpCertificate.from_text(c).pem for c in connection.idp_certificates]
    data = {
        "strict": True,
        "debug": False,
        "sp": {
            "entityId": sp_entity_id(connection.provider_id),
            "assertionConsumerService": {
                "url": acs_url(connection.provider_id),
                "binding": BINDING_POST,
            },
            "NameIDFormat": OneLogin_Saml2_Constants.NAMEID_UNSPECIFIED,
        },
        "idp": {
            "entityId": connection.idp_entity_id,
            "singleSignOnService": {"url": connection.idp_sso_url, "binding": BINDING_REDIRECT},
            "x509certMulti": {"signing": certs},
        },
        "security": {
            "authnRequestsSigned": False,
            "wantAssertionsSigned": True,
            "wantMessagesSigned": False,
            "wantNameId": True,
            "wantAttributeStatement": False,
            "rejectDeprecatedAlgorithm": True,
            "rejectUnsolicitedResponsesWithInResponseTo": True,
            "requestedAuthnContext": False,
            "signatureAlgorithm": OneLogin_Saml2_Constants.RSA_SHA256,
            "digestAlgorithm": OneLogin_Saml2_Constants.SHA256,
        },
    }
    if sp_only:
        return OneLogin_Saml2_Settings(data, sp_validation_only=True)
    if not certs:
        raise SamlError("certificate", _("The connection has no signing certificate."))
    return OneLogin_Saml2_Settings(data)


# --- Metadata -------------------------------------------------------------------------------


def sp_metadata(provider_id: str) -> str:
    """Our SP metadata XML for ``provider_id``, to hand to the customer's IdP admin."""
    connection = SamlConnection(
        provider_id=provider_id, idp_entity_id="", idp_sso_url="", idp_certificates=()
    )
    metadata = _settings(connection, sp_only=True).get_sp_metadata()
    return metadata.decode() if isinstance(metadata, bytes) else metadata


def parse_idp_metadata(xml: str | bytes, *, entity_id: str | None = None) -> IdpMetadata:
    """Entity id, SSO URL and signing certificates of an IdP's metadata document.

    An ``EntitiesDescriptor`` with several IdPs needs ``entity_id`` to pick one.
    """
    if isinstance(xml, str):
        xml = xml.encode()
    if len(xml) > MAX_METADATA_BYTES:
        raise SamlError("metadata", _("The metadata document is too large."))
    try:
        root = OneLogin_Saml2_XML.to_etree(xml)  # python3-saml's hardened parser
    except Exception as exc:
        raise SamlError("metadata", _("The metadata is not a valid XML document.")) from exc
    descriptors = root.xpath(
        "//md:EntityDescriptor[md:IDPSSODescriptor]"
        if entity_id is None
        else "//md:EntityDescriptor[@entityID=$eid][md:IDPSSODescriptor]",
        namespaces=NS,
        eid=entity_id or "",
    )
    if not descriptors:
        raise SamlError("metadata", _("The metadata describes no identity provider."))
    if len(descriptors) > 1:
        raise SamlError(
            "metadata", _("The metadata describes several identity providers: choose one.")
        )
    entity = descriptors[0]
    idp = entity.find("md:IDPSSODescriptor", NS)
    sso_url = binding = None
    for wanted in (BINDING_REDIRECT, BINDING_POST):
        for service in idp.findall("md:SingleSignOnService", NS):
            if service.get("Binding") == wanted and service.get("Location"):
                sso_url, binding = service.get("Location"), wanted
                break
        if sso_url:
            break
    if not sso_url:
        raise SamlError(
            "metadata", _("The metadata has no HTTP-Redirect or HTTP-POST sign-in URL.")
        )
    certificates = []
    for key in idp.findall("md:KeyDescriptor", NS):
        if key.get("use") not in (None, "signing"):
            continue
        for node in key.findall("ds:KeyInfo/ds:X509Data/ds:X509Certificate", NS):
            cert = IdpCertificate.from_text(node.text or "")
            if cert.sha256_fingerprint not in {c.sha256_fingerprint for c in certificates}:
                certificates.append(cert)
    if not certificates:
        raise SamlError("metadata", _("The metadata has no signing certificate."))
    return IdpMetadata(
        entity_id=entity.get("entityID") or "",
        sso_url=sso_url,
        sso_binding=binding,
        certificates=tuple(certificates),
    )


def fetch_idp_metadata(url: str, *, entity_id: str | None = None) -> IdpMetadata:
    """:func:`parse_idp_metadata` of a metadata URL, fetched through hypereal_site.outbound
    (so its OutboundError may come out as well)."""
    response = outbound.fetch(url, max_bytes=MAX_METADATA_BYTES)
    return parse_idp_metadata(response.body, entity_id=entity_id)


# --- Sign-in --------------------------------------------------------------------------------


def build_authn_request(connection: SamlConnection, *, relay_state: str = "") -> AuthnRequest:
    """The HTTP-Redirect URL of a new AuthnRequest and its id (store it for the response)."""
    auth = OneLogin_Saml2_Auth(_request_data(connection.provider_id), _settings(connection))
    url = auth.login(return_to=relay_state or None)
    return AuthnRequest(url=url, request_id=auth.get_last_request_id())


_REASONS = {
    "signature": {
        VE.WRONG_SIGNED_ELEMENT,
        VE.ID_NOT_FOUND_IN_SIGNED_ELEMENT,
        VE.DUPLICATED_ID_IN_SIGNED_ELEMENTS,
        VE.INVALID_SIGNED_ELEMENT,
        VE.DUPLICATED_REFERENCE_IN_SIGNED_ELEMENTS,
        VE.UNEXPECTED_SIGNED_ELEMENTS,
        VE.WRONG_NUMBER_OF_SIGNATURES_IN_RESPONSE,
        VE.WRONG_NUMBER_OF_SIGNATURES_IN_ASSERTION,
        VE.NO_SIGNED_ASSERTION,
        VE.NO_SIGNATURE_FOUND,
        VE.INVALID_SIGNATURE,
        VE.WRONG_NUMBER_OF_SIGNATURES,
    },
    "algorithm": {VE.DEPRECATED_SIGNATURE_METHOD, VE.DEPRECATED_DIGEST_METHOD},
    "destination": {VE.WRONG_DESTINATION, VE.EMPTY_DESTINATION},
    "audience": {VE.WRONG_AUDIENCE},
    "time": {VE.ASSERTION_TOO_EARLY, VE.ASSERTION_EXPIRED, VE.SESSION_EXPIRED},
    "in_response_to": {VE.WRONG_INRESPONSETO},
    "issuer": {VE.ISSUER_MULTIPLE_IN_RESPONSE, VE.ISSUER_NOT_FOUND_IN_ASSERTION, VE.WRONG_ISSUER},
    "status": {VE.MISSING_STATUS, VE.MISSING_STATUS_CODE, VE.STATUS_CODE_IS_NOT_SUCCESS},
    "subject_confirmation": {VE.WRONG_SUBJECTCONFIRMATION},
}
_MESSAGES = {
    "signature": gettext_lazy(
        "The assertion is not signed by the identity provider's certificate."
    ),
    "algorithm": gettext_lazy("The response is signed with SHA-1, which is refused."),
    "destination": gettext_lazy("The response was sent to another address."),
    "audience": gettext_lazy("The response is meant for another service provider."),
    "time": gettext_lazy("The response has expired or is not valid yet."),
    "in_response_to": gettext_lazy(
        "The response does not answer the sign-in request that was sent."
    ),
    "issuer": gettext_lazy("The response comes from another identity provider."),
    "status": gettext_lazy("The identity provider refused the sign-in."),
    "subject_confirmation": gettext_lazy("The response's subject confirmation does not match."),
    "malformed": gettext_lazy("The response is not a valid SAML response."),
}


def _error(reason: str) -> SamlError:
    return SamlError(reason, str(_MESSAGES[reason]))


def _reason_of(code) -> str:
    for reason, codes in _REASONS.items():
        if code in codes:
            return reason
    return "malformed"


def _parse_time(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        return dt.datetime.fromtimestamp(OneLogin_Saml2_Utils.parse_SAML_to_time(value), dt.UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise _error("time") from exc


def validate_response(
    connection: SamlConnection,
    saml_response: str,
    *,
    expected_request_id: str | None,
    now: dt.datetime | None = None,
) -> SamlAssertion:
    """Validate the base64 ``SAMLResponse`` posted to our ACS; any refusal is a SamlError."""
    if not isinstance(saml_response, str) or not saml_response:
        raise _error("malformed")
    if len(saml_response) > MAX_RESPONSE_BYTES or "\x00" in saml_response:
        raise _error("malformed")
    if expected_request_id is None and not connection.allow_idp_initiated:
        raise _error("in_response_to")
    settings_ = _settings(connection)
    try:
        response = OneLogin_Saml2_Response(settings_, saml_response)
    except Exception as exc:
        raise _error("malformed") from exc
    try:
        response.is_valid(
            _request_data(connection.provider_id, post={"SAMLResponse": saml_response}),
            request_id=expected_request_id,
            raise_exceptions=True,
        )
    except VE as exc:
        raise _error(_reason_of(exc.code)) from exc
    except Exception as exc:
        raise _error("malformed") from exc

    # What python3-saml leaves to the caller, on the signed assertion only.
    acs = acs_url(connection.provider_id)
    if response.document.get("Destination") != acs:
        raise _error("destination")
    if sp_entity_id(connection.provider_id) not in response.get_audiences():
        raise _error("audience")
    in_response_to = response.get_in_response_to()
    if expected_request_id is not None and in_response_to != expected_request_id:
        raise _error("in_response_to")
    if expected_request_id is None and in_response_to is not None:
        raise _error("in_response_to")
    now = now or dt.datetime.now(dt.UTC)
    conditions = response._query_assertion("/saml:Conditions")
    not_before = _parse_time(conditions[0].get("NotBefore")) if conditions else None
    conditions_end = _parse_time(conditions[0].get("NotOnOrAfter")) if conditions else None
    if not_before is not None and not_before > now + CLOCK_SKEW:
        raise _error("time")
    if conditions_end is not None and conditions_end + CLOCK_SKEW <= now:
        raise _error("time")
    confirmation_end = None
    for scd in response._query_assertion(
        "/saml:Subject/saml:SubjectConfirmation[@Method='"
        + OneLogin_Saml2_Constants.CM_BEARER
        + "']/saml:SubjectConfirmationData"
    ):
        if scd.get("Recipient") != acs:
            continue
        if scd.get("InResponseTo") != in_response_to:
            continue
        end = _parse_time(scd.get("NotOnOrAfter"))
        if end is None or end + CLOCK_SKEW <= now:
            continue
        confirmation_end = end
        break
    if confirmation_end is None:
        raise _error("subject_confirmation")

    name_id = response.get_nameid()
    assertion_id = response.get_assertion_id()
    if not name_id or not assertion_id:
        raise _error("malformed")
    try:  # python3-saml raises here on a duplicated attribute name (signed or not)
        raw_attributes = response.get_attributes()
    except Exception as exc:
        raise _error("malformed") from exc
    attributes = {k: [str(v) for v in vs] for k, vs in raw_attributes.items()}
    mapped = {}
    for ours, theirs in connection.attribute_mapping.items():
        values = attributes.get(theirs)
        if values:
            mapped[ours] = values[0]
    ends = [t for t in (conditions_end, confirmation_end) if t is not None]
    return SamlAssertion(
        name_id=name_id,
        name_id_format=response.get_nameid_format(),
        assertion_id=assertion_id,
        message_id=response.get_id(),
        not_on_or_after=min(ends),
        session_index=response.get_session_index(),
        in_response_to=in_response_to,
        attributes=attributes,
        mapped=mapped,
    )
