"""IdP metadata documents for the save-time check's tests, with certificates made here."""

import base64
import datetime as dt
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"


@cache
def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def certificate(name: str = "idp", *, days: int = 365) -> x509.Certificate:
    """Valid from yesterday for ``days`` days (negative: already expired)."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(days=max(2, -days + 2))
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(_key().public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(_key(), hashes.SHA256())
    )


def der_b64(cert: x509.Certificate) -> str:
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def fingerprint(cert: x509.Certificate) -> str:
    digest = cert.fingerprint(hashes.SHA256()).hex().upper()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def idp_metadata(
    *certs: x509.Certificate,
    entity_id: str = "https://idp.example.com/saml",
    sso_url: str = "https://idp.example.com/sso",
    algorithms: tuple[str, ...] = (),
) -> str:
    certs = certs or (certificate(),)
    keys = "".join(
        '<md:KeyDescriptor use="signing"><ds:KeyInfo><ds:X509Data><ds:X509Certificate>'
        f"{der_b64(c)}</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>"
        for c in certs
    )
    extensions = ""
    if algorithms:
        extensions = (
            "<md:Extensions>"
            + "".join(f'<alg:SigningMethod Algorithm="{a}"/>' for a in algorithms)
            + "</md:Extensions>"
        )
    return (
        '<?xml version="1.0"?>'
        '<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
        ' xmlns:ds="http://www.w3.org/2000/09/xmldsig#"'
        ' xmlns:alg="urn:oasis:names:tc:SAML:metadata:algsupport"'
        f' entityID="{entity_id}">{extensions}'
        '<md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">'
        f"{keys}"
        '<md:SingleSignOnService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"'
        f' Location="{sso_url}"/>'
        "</md:IDPSSODescriptor></md:EntityDescriptor>"
    )
