"""OIDC against a real provider (node-oidc-provider on loopback): a real code flow with PKCE
yields verified claims; tokens with a wrong aud, iss, azp, nonce, time, an unverified email,
alg=none or HS256 (even signed with the client secret) are refused.

Tampered ID tokens are signed with the provider's own keys (the fixture made them), so each
one fails only on the claim it changes.
"""

import base64
import json
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.core.cache import cache

from hypereal_site import outbound
from sso import oidc
from tests.httpstub import HttpStub, Route


@pytest.fixture
def connection(oidc_idp) -> oidc.OidcConnection:
    return oidc.OidcConnection(
        provider_id=oidc_idp.provider_id,
        issuer=oidc_idp.issuer,
        client_id=oidc_idp.client_id,
        client_secret=oidc_idp.client_secret,
        scopes=("openid", "email"),
    )


@pytest.fixture
def provider(connection) -> oidc.ProviderMetadata:
    return oidc.discover(connection.issuer)


@pytest.fixture
def stub():
    server = HttpStub()
    yield server
    server.close()


def _sign_in(oidc_idp, connection, provider, account="alice"):
    request = oidc.authorization_request(connection, provider)
    answer = oidc_idp.log_in(request.url, account)
    assert oidc.state_matches(request.state, answer.get("state")), answer
    tokens = oidc.exchange_code(
        connection, provider, code=answer["code"], code_verifier=request.code_verifier
    )
    return request, tokens


def _claims(oidc_idp, connection, **changes):
    now = int(time.time())
    claims = {
        "iss": oidc_idp.issuer,
        "sub": "alice",
        "aud": connection.client_id,
        "iat": now,
        "exp": now + 300,
        "nonce": "the-nonce",
        "email": "alice@corp.example",
        "email_verified": True,
    }
    claims.update(changes)
    return {k: v for k, v in claims.items() if v is not None}


def _refused(connection, provider, token, reason, nonce="the-nonce"):
    with pytest.raises(oidc.OidcError) as caught:
        oidc.verify_id_token(connection, provider, token, nonce=nonce)
    assert caught.value.reason == reason, caught.value.message
    assert caught.value.message


# --- The real flow --------------------------------------------------------------------------


def test_discovery_reads_the_providers_endpoints(oidc_idp, provider):
    assert provider.issuer == oidc_idp.issuer
    assert provider.authorization_endpoint.startswith(oidc_idp.issuer)
    assert provider.token_endpoint.startswith(oidc_idp.issuer)
    assert provider.jwks_uri.startswith(oidc_idp.issuer)


def test_a_real_code_flow_yields_verified_claims(oidc_idp, connection, provider):
    request, tokens = _sign_in(oidc_idp, connection, provider)
    claims = oidc.verify_id_token(connection, provider, tokens.id_token, nonce=request.nonce)
    assert claims["sub"] == "alice"
    assert claims["email"] == "alice@corp.example"
    assert claims["email_verified"] is True
    assert claims["nonce"] == request.nonce
    assert jwt.get_unverified_header(tokens.id_token)["alg"] == "RS256"
    assert tokens.access_token


def test_the_authorization_request_carries_state_nonce_and_s256_pkce(connection, provider):
    request = oidc.authorization_request(connection, provider)
    query = dict(p.split("=", 1) for p in request.url.split("?", 1)[1].split("&"))
    assert query["state"] == request.state and query["nonce"] == request.nonce
    assert query["code_challenge_method"] == "S256"
    import hashlib  # noqa: PLC0415 - only this test recomputes the challenge

    expected = base64.urlsafe_b64encode(hashlib.sha256(request.code_verifier.encode()).digest())
    assert query["code_challenge"] == expected.decode().rstrip("=")
    assert 43 <= len(request.code_verifier) <= 128
    assert request.state != oidc.authorization_request(connection, provider).state


def test_the_provider_refuses_a_code_without_the_right_verifier(oidc_idp, connection, provider):
    request = oidc.authorization_request(connection, provider)
    answer = oidc_idp.log_in(request.url, "alice")
    with pytest.raises(oidc.OidcError) as caught:
        oidc.exchange_code(connection, provider, code=answer["code"], code_verifier="x" * 64)
    assert caught.value.reason == "token"


def test_a_real_token_with_another_nonce_is_refused(oidc_idp, connection, provider):
    _, tokens = _sign_in(oidc_idp, connection, provider)
    _refused(connection, provider, tokens.id_token, "nonce", nonce="a-nonce-we-never-sent")


def test_a_real_token_for_an_unverified_email_is_refused(oidc_idp, connection, provider):
    request, tokens = _sign_in(oidc_idp, connection, provider, account="mallory")
    assert (
        jwt.decode(tokens.id_token, options={"verify_signature": False})["email_verified"] is False
    )
    _refused(connection, provider, tokens.id_token, "email_unverified", nonce=request.nonce)


# --- Tampered tokens ------------------------------------------------------------------------


def test_a_token_signed_by_the_provider_passes(oidc_idp, connection, provider):
    """The control for the refusals below: only the changed claim makes them fail."""
    for alg in ("RS256", "ES256"):
        token = oidc_idp.sign(_claims(oidc_idp, connection), alg=alg)
        assert oidc.verify_id_token(connection, provider, token, nonce="the-nonce")["sub"]


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"aud": "another-client"}, "audience"),
        ({"aud": ["another-client", "third-client"]}, "audience"),
        ({"iss": "https://evil.example"}, "issuer"),
        ({"aud": ["hypereal-console", "another-client"]}, "azp"),
        ({"aud": ["hypereal-console", "another-client"], "azp": "another-client"}, "azp"),
        ({"azp": "another-client"}, "azp"),
        ({"nonce": "another-nonce"}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"email_verified": False}, "email_unverified"),
        ({"email_verified": "false"}, "email_unverified"),
        ({"email_verified": None}, "email_unverified"),
        ({"email": None}, "email_unverified"),
        ({"exp": ("now", -600)}, "expired"),
        ({"iat": ("now", 600), "exp": ("now", 900)}, "issued_in_future"),
        ({"sub": None}, "malformed"),
        ({"exp": "tomorrow"}, "malformed"),
    ],
    ids=lambda v: json.dumps(v) if isinstance(v, dict) else v,
)
def test_a_tampered_claim_is_refused(oidc_idp, connection, provider, changes, reason):
    now = int(time.time())  # ("now", offset): a time relative to when the test runs
    changes = {
        k: now + v[1] if isinstance(v, tuple) and v[0] == "now" else v for k, v in changes.items()
    }
    token = oidc_idp.sign(_claims(oidc_idp, connection, **changes))
    _refused(connection, provider, token, reason)


def test_several_audiences_pass_with_our_azp(oidc_idp, connection, provider):
    claims = _claims(
        oidc_idp, connection, aud=[connection.client_id, "other"], azp=connection.client_id
    )
    assert oidc.verify_id_token(connection, provider, oidc_idp.sign(claims), nonce="the-nonce")


def test_a_small_clock_skew_is_tolerated(oidc_idp, connection, provider):
    now = int(time.time())
    claims = _claims(oidc_idp, connection, iat=now + 60, exp=now - 60)
    assert oidc.verify_id_token(connection, provider, oidc_idp.sign(claims), nonce="the-nonce")


def test_alg_none_is_refused(oidc_idp, connection, provider):
    header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(json.dumps(_claims(oidc_idp, connection)).encode())
    token = f"{header.decode()}.{body.rstrip(b'=').decode()}."
    _refused(connection, provider, token, "algorithm")


def test_hs256_signed_with_the_client_secret_is_refused(oidc_idp, connection, provider):
    token = jwt.encode(
        _claims(oidc_idp, connection),
        connection.client_secret,
        algorithm="HS256",
        headers={"kid": oidc_idp.rsa_kid},
    )
    _refused(connection, provider, token, "algorithm")


def test_a_token_altered_after_signing_is_refused(oidc_idp, connection, provider):
    header, _, signature = oidc_idp.sign(_claims(oidc_idp, connection)).split(".")
    forged = _claims(oidc_idp, connection, email="ceo@corp.example")
    body = base64.urlsafe_b64encode(json.dumps(forged).encode()).rstrip(b"=").decode()
    _refused(connection, provider, f"{header}.{body}.{signature}", "signature")


def test_a_token_signed_by_another_key_under_the_providers_kid_is_refused(
    oidc_idp, connection, provider
):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(
        _claims(oidc_idp, connection), other, algorithm="RS256", headers={"kid": oidc_idp.rsa_kid}
    )
    _refused(connection, provider, token, "signature")


def test_an_unknown_kid_is_refused(oidc_idp, connection, provider):
    token = oidc_idp.sign(_claims(oidc_idp, connection), headers={"kid": "not-published"})
    _refused(connection, provider, token, "unknown_key")


@pytest.mark.parametrize("garbage", ["", "a.b", "a.b.c", "\x00", "x" * 20_000])
def test_garbage_is_refused(connection, provider, garbage):
    _refused(connection, provider, garbage, "malformed")


# --- The JWKS cache -------------------------------------------------------------------------


def _count_fetches(monkeypatch) -> list[str]:
    fetched = []
    real = outbound.fetch_json

    def counting(url, **kwargs):
        fetched.append(url)
        return real(url, **kwargs)

    monkeypatch.setattr(outbound, "fetch_json", counting)
    return fetched


def test_the_jwks_is_cached(oidc_idp, connection, provider, monkeypatch):
    fetched = _count_fetches(monkeypatch)
    for _ in range(3):
        token = oidc_idp.sign(_claims(oidc_idp, connection))
        oidc.verify_id_token(connection, provider, token, nonce="the-nonce")
    assert fetched == [provider.jwks_uri]


def test_an_unknown_kid_refreshes_the_jwks_once(oidc_idp, connection, provider, monkeypatch):
    # What the cache holds from before the provider rotated in its current RSA key:
    stale = [{"kty": "RSA", "kid": "retired", "n": "AQAB", "e": "AQAB"}]
    cache.set(oidc._cache_key("jwks", provider.jwks_uri), stale, 3600)
    fetched = _count_fetches(monkeypatch)
    token = oidc_idp.sign(_claims(oidc_idp, connection))
    assert oidc.verify_id_token(connection, provider, token, nonce="the-nonce")
    assert fetched == [provider.jwks_uri]
    # A kid nobody publishes does not make every request refetch.
    unknown = oidc_idp.sign(_claims(oidc_idp, connection), headers={"kid": "nobody"})
    for _ in range(3):
        _refused(connection, provider, unknown, "unknown_key")
    assert len(fetched) <= 2


# --- Discovery failures ---------------------------------------------------------------------


def test_discovery_at_a_private_address_is_refused_without_the_setting(settings, oidc_idp):
    settings.ALLOW_PRIVATE_OUTBOUND = False
    for issuer in (
        oidc_idp.issuer,
        "https://10.0.0.7",
        "https://[fd00::1]",
        "https://169.254.169.254",
    ):
        with pytest.raises(oidc.OidcError) as caught:
            oidc.discover(issuer)
        assert caught.value.reason in ("private_address", "scheme"), issuer
    with pytest.raises(oidc.OidcError) as caught:
        oidc.discover("https://10.0.0.7")
    assert caught.value.reason == "private_address"


def _document(issuer: str, **changes) -> bytes:
    document = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/auth",
        "token_endpoint": f"{issuer}/token",
        "jwks_uri": f"{issuer}/jwks",
        "id_token_signing_alg_values_supported": ["RS256"],
    }
    document.update(changes)
    return json.dumps({k: v for k, v in document.items() if v is not None}).encode()


@pytest.mark.parametrize(
    ("route", "reason"),
    [
        (Route(body=b"<html>not json</html>"), "json"),
        (Route(status=500, body=b"oops"), "status"),
        (
            Route(status=302, headers={"Location": "http://169.254.169.254/latest"}),
            "private_address",
        ),
        (Route(body=b"[1, 2]"), "json"),
    ],
    ids=["not-json", "status", "redirect-to-metadata-service", "not-an-object"],
)
def test_discovery_failures_say_why(stub, route, reason):
    stub.routes["/.well-known/openid-configuration"] = route
    with pytest.raises(oidc.OidcError) as caught:
        oidc.discover(stub.base_url)
    assert caught.value.reason == reason


def test_discovery_for_another_issuer_is_refused(stub):
    stub.routes["/.well-known/openid-configuration"] = Route(body=_document("https://evil.example"))
    with pytest.raises(oidc.OidcError) as caught:
        oidc.discover(stub.base_url)
    assert caught.value.reason == "issuer_mismatch"


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"jwks_uri": None}, "discovery"),
        ({"token_endpoint": 42}, "discovery"),
        ({"id_token_signing_alg_values_supported": ["HS256", "none"]}, "algorithm"),
    ],
)
def test_an_incomplete_discovery_document_is_refused(stub, changes, reason):
    stub.routes["/.well-known/openid-configuration"] = Route(
        body=_document(stub.base_url, **changes)
    )
    with pytest.raises(oidc.OidcError) as caught:
        oidc.discover(stub.base_url)
    assert caught.value.reason == reason


def test_discovery_with_an_unknown_host_says_dns(monkeypatch):
    import socket  # noqa: PLC0415 - only this test fakes the resolver

    def no_such_host(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_such_host)
    with pytest.raises(oidc.OidcError) as caught:
        oidc.discover("https://idp.corp.invalid")
    assert caught.value.reason == "dns"
