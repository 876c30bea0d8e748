"""The save-time check of a connection (docs/sso.md "Save-time checks").

OIDC: the issuer's discovery document is fetched and checked (``sso.oidc.discover``); the
outcome — passed, or the exact reason it failed — is stored on the connection: the failure's
code and, for its sentence, a code of ``hypereal_site.reasons`` and its parameters
(translated when shown, never frozen in the language of whoever saved). SAML: the metadata
(pasted, or fetched from its URL through ``hypereal_site.outbound``) is parsed and its
entity id, sign-in URL and certificates are stored; metadata that cannot be read is a field
error, so nothing is saved. These functions only fetch and parse: they run before the
service's transaction, so no row is locked while a remote server answers.
"""

import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

from hypereal_site import outbound
from hypereal_site.reasons import reason_text

from . import oidc, saml

_SHA1_ALGORITHMS = {
    "http://www.w3.org/2000/09/xmldsig#rsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#dsa-sha1",
    "http://www.w3.org/2000/09/xmldsig#sha1",
    "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1",
}


@dataclass(frozen=True)
class CheckOutcome:
    status: str  # "ok" or "failed"
    code: str = ""  # why it failed: an outbound/oidc reason, or "sha1_only"
    detail: str = ""  # the sentence, as a code of hypereal_site.reasons
    params: dict | None = None

    @property
    def message(self) -> str:
        """The sentence in the active language ("" when passed)."""
        return reason_text(self.detail, self.params)


@dataclass(frozen=True)
class SamlMetadata:
    entity_id: str
    sso_url: str
    certificate: str  # PEM
    certificate_next: str  # PEM of the rollover certificate, or ""
    outcome: CheckOutcome


def oidc_check(issuer: str) -> CheckOutcome:
    try:
        oidc.discover(issuer, use_cache=False)
    except oidc.OidcError as exc:
        return CheckOutcome("failed", exc.reason, exc.detail, exc.params)
    return CheckOutcome("ok")


def _declared_algorithms(xml: bytes) -> set[str]:
    try:
        root = saml.OneLogin_Saml2_XML.to_etree(xml)
    except Exception:  # parse_idp_metadata reports unreadable documents
        return set()
    return {
        value
        for node in root.iter()
        if isinstance(node.tag, str)
        and node.tag.rsplit("}", 1)[-1] in ("SigningMethod", "DigestMethod", "SignatureMethod")
        and (value := node.get("Algorithm"))
    }


def _fetch(url: str) -> bytes:
    """https only, public addresses only, size and time limits, redirects re-checked."""
    return outbound.fetch(url, max_bytes=saml.MAX_METADATA_BYTES).body


def saml_check(*, xml: str = "", url: str = "") -> SamlMetadata:
    """Parse the metadata (fetching ``url`` if no ``xml``); a ValidationError on the field
    given when it cannot be fetched or read."""
    field = "metadata_xml" if xml else "metadata_url"
    try:
        body = xml.encode() if xml else _fetch(url)
        parsed = saml.parse_idp_metadata(body)
    except outbound.OutboundError as exc:
        raise ValidationError(
            {field: _("The metadata could not be fetched: %(why)s") % {"why": exc.message}}
        ) from None
    except saml.SamlError as exc:
        raise ValidationError({field: exc.message}) from None
    algorithms = _declared_algorithms(body)
    certs = [certificate_facts(c.pem) for c in parsed.certificates]
    outcome = CheckOutcome("ok")
    if (algorithms and algorithms <= _SHA1_ALGORITHMS) or all(c["sha1Signed"] for c in certs):
        outcome = CheckOutcome("failed", "sha1_only", "sha1_only")
    elif all(c["expired"] for c in certs):
        outcome = CheckOutcome("failed", "certificate_expired", "certificate_expired")
    return SamlMetadata(
        entity_id=parsed.entity_id,
        sso_url=parsed.sso_url,
        certificate=parsed.certificates[0].pem,
        certificate_next=parsed.certificates[1].pem if len(parsed.certificates) > 1 else "",
        outcome=outcome,
    )


def certificate_facts(pem: str, *, now: dt.datetime | None = None) -> dict:
    """What the page and the API show of a stored certificate: its SHA-256 fingerprint,
    validity, and the flags (expired, expiring within 30 days, signed with SHA-1)."""
    now = now or dt.datetime.now(dt.UTC)
    cert = saml.IdpCertificate.from_text(pem)
    parsed = x509.load_pem_x509_certificate(cert.pem.encode())
    algorithm = parsed.signature_hash_algorithm
    return {
        "sha256Fingerprint": cert.sha256_fingerprint,
        "subject": cert.subject,
        "notBefore": cert.not_valid_before,
        "notAfter": cert.not_valid_after,
        "expired": cert.not_valid_after <= now,
        "expiresSoon": cert.expires_within(30, now=now) and cert.not_valid_after > now,
        "sha1Signed": algorithm is not None and algorithm.name == "sha1",
    }
