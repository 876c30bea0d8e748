"""Real identity providers on loopback for the SSO tests (fixtures re-exported by conftest).

``saml_idp`` runs saml-idp (Node, samlp underneath) and ``oidc_idp`` runs node-oidc-provider,
each once per test session on a free 127.0.0.1 port, installed from tests/sso/idp by
scripts/ensure-test-idps (``make test`` runs it; the fixtures run it too, so a bare
``pytest tests/sso`` works on a fresh machine). Their keys are made here with
``cryptography`` so that tests can also sign tampered messages the IdP would not produce.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlsplit

import jwt
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
IDP_DIR = Path(__file__).resolve().parent / "idp"
START_TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _loopback_outbound(settings):
    """The test IdPs listen on http://127.0.0.1: let hypereal_site.outbound reach them
    (tests of the refusal turn it off again)."""
    settings.ALLOW_PRIVATE_OUTBOUND = True


# --- Processes ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def node_idps_installed() -> str:
    result = subprocess.run(  # noqa: S603 - our own script, fixed argv
        ["bash", str(ROOT / "scripts" / "ensure-test-idps")],  # noqa: S607
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, (
        f"scripts/ensure-test-idps failed:\n{result.stdout}\n{result.stderr}"
    )
    node = shutil.which("node")
    assert node, "node is not on PATH after scripts/ensure-test-idps"
    return node


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Server:
    def __init__(self, name: str, argv: list[str], ready_url: str, log: Path):
        self.name, self.log = name, log
        self._log_file = log.open("wb")
        self.process = subprocess.Popen(  # noqa: S603 - node with our own script
            argv, cwd=IDP_DIR, stdout=self._log_file, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                self.stop()
                pytest.fail(f"{name} exited with {self.process.returncode}:\n{self.log_text()}")
            try:
                if requests.get(ready_url, timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                pytest.fail(
                    f"{name} was not ready at {ready_url} in {START_TIMEOUT}s:\n{self.log_text()}"
                )
            time.sleep(0.2)

    def log_text(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")[-5000:]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log_file.close()


def _self_signed(
    common_name: str, *, days: int = 365
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=days))
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode()


def _hidden_input(html: str, name: str) -> str:
    match = re.search(
        rf"<input[^>]*name=[\"']{re.escape(name)}[\"'][^>]*value=[\"']([^\"']*)[\"']", html, re.S
    )
    assert match, f"no hidden input {name!r} in:\n{html[:2000]}"
    return unescape(match.group(1))


# --- SAML: saml-idp -------------------------------------------------------------------------


@dataclass
class SamlIdp:
    base_url: str
    entity_id: str
    provider_id: str
    cert_pem: str
    key: rsa.RSAPrivateKey
    server: _Server

    @property
    def metadata_url(self) -> str:
        return f"{self.base_url}/metadata"

    def sign_in(self, authn_request_url: str) -> str:
        """What a browser does at the IdP: open the AuthnRequest, press "Sign In";
        returns the base64 SAMLResponse the IdP's page would post to our ACS."""
        assert authn_request_url.startswith(f"{self.base_url}/saml/sso?"), authn_request_url
        session = requests.Session()
        page = session.get(authn_request_url, timeout=10)
        assert page.status_code == 200, page.text[:2000]
        authn_request = _hidden_input(page.text, "_authnRequest")
        answer = session.post(
            f"{self.base_url}/signin", data={"_authnRequest": authn_request}, timeout=10
        )
        assert answer.status_code == 200, answer.text[:2000]
        return _hidden_input(answer.text, "SAMLResponse")


def start_saml_idp(node: str, work: Path, site_url: str) -> SamlIdp:
    """saml-idp answering the SP at ``site_url`` (its ACS and audience are fixed at start);
    stop it with ``.server.stop()``."""
    key, cert = _self_signed("Hypereal test SAML IdP")
    (work / "idp-cert.pem").write_text(_pem(cert))
    (work / "idp-key.pem").write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,  # saml-idp wants "RSA PRIVATE KEY"
            serialization.NoEncryption(),
        )
    )
    provider_id = "saml-test"
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    entity_id = "urn:hypereal:test:saml-idp"
    argv = [
        node,
        str(IDP_DIR / "node_modules" / "saml-idp" / "bin" / "run.js"),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--cert", str(work / "idp-cert.pem"),
        "--key", str(work / "idp-key.pem"),
        "--issuer", entity_id,
        "--acsUrl", f"{site_url}/api/auth/sso/{provider_id}",
        "--audience", f"{site_url}/api/auth/sso/{provider_id}/metadata",
    ]  # fmt: skip
    server = _Server("saml-idp", argv, f"{base_url}/metadata", work / "saml-idp.log")
    return SamlIdp(
        base_url=base_url,
        entity_id=entity_id,
        provider_id=provider_id,
        cert_pem=_pem(cert),
        key=key,
        server=server,
    )


@pytest.fixture(scope="session")
def saml_idp(node_idps_installed, tmp_path_factory) -> SamlIdp:
    idp = start_saml_idp(
        node_idps_installed, tmp_path_factory.mktemp("saml-idp"), settings.SITE_URL
    )
    yield idp
    idp.server.stop()


# --- OIDC: node-oidc-provider ---------------------------------------------------------------


@dataclass
class OidcIdp:
    issuer: str
    client_id: str
    client_secret: str
    provider_id: str
    rsa_key: rsa.RSAPrivateKey
    rsa_kid: str
    ec_key: ec.EllipticCurvePrivateKey
    ec_kid: str
    server: _Server

    def log_in(self, authorization_url: str, account: str) -> dict[str, str]:
        """Sign in at the provider as ``account`` (development interactions: any password),
        consent, and return the query of the redirect back to us (code, state, iss)."""
        session = requests.Session()
        url = authorization_url
        for _step in range(12):
            answer = session.get(url, allow_redirects=False, timeout=10)
            if answer.status_code in (302, 303):
                url = urljoin(url, answer.headers["location"])
                if not url.startswith(self.issuer):
                    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
                continue
            assert answer.status_code == 200, answer.text[:2000]
            action = re.search(r'<form[^>]*action="([^"]+)"', answer.text)
            assert action, answer.text[:2000]
            prompt = _hidden_input(answer.text, "prompt")
            form = {"prompt": prompt}
            if prompt == "login":
                form |= {"login": account, "password": "any"}
            target = urljoin(url, unescape(action.group(1)))
            answer = session.post(target, data=form, allow_redirects=False, timeout=10)
            assert answer.status_code in (302, 303), answer.text[:2000]
            url = urljoin(url, answer.headers["location"])
        raise AssertionError("the provider never redirected back")

    def sign(self, claims: dict, *, alg: str = "RS256", headers: dict | None = None) -> str:
        """An ID token signed with the provider's own key (for tampered claims)."""
        key, kid = (self.rsa_key, self.rsa_kid) if alg == "RS256" else (self.ec_key, self.ec_kid)
        return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid, **(headers or {})})


def start_oidc_idp(node: str, work: Path, site_url: str) -> OidcIdp:
    """node-oidc-provider with one client whose redirect URI is at ``site_url``; stop it
    with ``.server.stop()``."""
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    rsa_jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key)) | {
        "kid": "test-rsa-1",
        "alg": "RS256",
        "use": "sig",
    }
    ec_jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(ec_key)) | {
        "kid": "test-ec-1",
        "alg": "ES256",
        "use": "sig",
    }
    provider_id = "oidc-test"
    port = _free_port()
    issuer = f"http://127.0.0.1:{port}"
    client_id, client_secret = "hypereal-console", "test-client-secret-that-is-long-enough-0123"
    config = {
        "port": port,
        "issuer": issuer,
        "jwks": {"keys": [rsa_jwk, ec_jwk]},
        "client": {
            "client_id": client_id,
            "client_secret": client_secret,
            "redirect_uris": [f"{site_url}/api/auth/sso/{provider_id}/callback"],
        },
        "accounts": {
            "alice": {"email": "alice@corp.example", "email_verified": True},
            "mallory": {"email": "mallory@corp.example", "email_verified": False},
        },
    }
    (work / "config.json").write_text(json.dumps(config))
    argv = [node, str(IDP_DIR / "oidc-server.js"), str(work / "config.json")]
    server = _Server(
        "oidc-provider",
        argv,
        f"{issuer}/.well-known/openid-configuration",
        work / "oidc-provider.log",
    )
    return OidcIdp(
        issuer=issuer,
        client_id=client_id,
        client_secret=client_secret,
        provider_id=provider_id,
        rsa_key=rsa_key,
        rsa_kid="test-rsa-1",
        ec_key=ec_key,
        ec_kid="test-ec-1",
        server=server,
    )


@pytest.fixture(scope="session")
def oidc_idp(node_idps_installed, tmp_path_factory) -> OidcIdp:
    idp = start_oidc_idp(
        node_idps_installed, tmp_path_factory.mktemp("oidc-idp"), settings.SITE_URL
    )
    yield idp
    idp.server.stop()
