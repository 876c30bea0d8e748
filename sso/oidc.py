"""OpenID Connect for corporate sign-in: discovery, JWKS, the authorization request, the token
exchange and the ID token check.

Plain functions over plain dataclasses. At wiring time mozilla-django-oidc's
``OIDCAuthenticationRequestView`` / ``OIDCAuthenticationBackend`` are subclassed per connection
and call into this module (their settings-driven defaults — one provider, HS256 allowed, no
discovery — do not fit a console where each organization brings its own IdP). From
mozilla-django-oidc we use its PKCE helper; signatures are checked with PyJWT.

Every network call goes through :mod:`hypereal_site.outbound` (https, public addresses only,
size and time limits). Every refusal is an :class:`OidcError` whose ``reason`` is one of
:data:`REASONS`; an outbound failure keeps the outbound reason (``dns``, ``tls``,
``status``, ``json``…). The refusals a connection's save-time check stores (discovery's)
also carry ``detail`` and ``params``, a code of ``hypereal_site.reasons`` and its parameters,
so that the stored check is shown in the reader's language.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from urllib.parse import quote, urlencode

import jwt
from django.conf import settings
from django.core.cache import cache
from django.utils.translation import gettext as _
from mozilla_django_oidc.utils import generate_code_challenge

from hypereal_site import outbound
from hypereal_site.reasons import LEGACY, reason_text

ALGORITHMS = ("RS256", "ES256")  # never "none", never HS256 (the client secret is no key)
_KEY_TYPES = {"RS256": "RSA", "ES256": "EC"}
CLOCK_SKEW_SECONDS = 120
DISCOVERY_CACHE_SECONDS = 3600
JWKS_CACHE_SECONDS = 3600
JWKS_REFRESH_MIN_SECONDS = 60  # an unknown kid refetches the JWKS at most this often
MAX_DOCUMENT_BYTES = 512 * 1024
MAX_TOKEN_CHARS = 16 * 1024

REASONS = (
    *outbound.REASONS,
    "issuer_mismatch",  # discovery answered for another issuer
    "discovery",  # the discovery document lacks what we need
    "token",  # the token endpoint refused the code
    "malformed",
    "algorithm",
    "unknown_key",
    "signature",
    "issuer",
    "audience",
    "azp",
    "expired",
    "issued_in_future",
    "nonce",
    "email_unverified",
)


class OidcError(Exception):
    """``message`` in the active language; ``detail`` and ``params`` the same as a code of
    ``hypereal_site.reasons`` (``legacy`` with the sentence when the refusal has none)."""

    def __init__(
        self, reason: str, message: str = "", *, detail: str = "", params: dict | None = None
    ):
        assert reason in REASONS, reason
        if detail:
            message = reason_text(detail, params)
        else:
            detail, params = LEGACY, {"text": message}
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.detail = detail
        self.params = dict(params or {})

    def __str__(self) -> str:
        return self.message


@dataclass(frozen=True)
class OidcConnection:
    """What the protocol needs of an OIDC connection (the caller builds it from its row)."""

    provider_id: str
    issuer: str
    client_id: str
    client_secret: str
    scopes: tuple[str, ...] = ("openid", "email", "profile")


@dataclass(frozen=True)
class ProviderMetadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None
    token_endpoint_auth_methods: tuple[str, ...]


@dataclass(frozen=True)
class AuthorizationRequest:
    url: str
    # Keep all three server-side (the session) until the callback:
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True)
class TokenResponse:
    id_token: str
    access_token: str | None
    raw: dict


def redirect_uri(provider_id: str) -> str:
    """The callback registered at the IdP (the SAML ACS is the same path without
    ``/callback``)."""
    return f"{settings.SITE_URL}/api/auth/sso/{provider_id}/callback"


def _outbound(call, *args, **kwargs):
    try:
        return call(*args, **kwargs)
    except outbound.OutboundError as exc:
        raise OidcError(exc.reason, detail=exc.detail, params=exc.params) from exc


def _cache_key(kind: str, url: str) -> str:
    return f"sso:oidc:{kind}:{hashlib.sha256(url.encode()).hexdigest()}"


# --- Discovery ------------------------------------------------------------------------------


def discover(issuer: str, *, use_cache: bool = True) -> ProviderMetadata:
    """The provider's ``/.well-known/openid-configuration``, fetched by us and checked: its
    ``issuer`` must be exactly the configured one (OpenID Connect Discovery 1.0, §4.3)."""
    issuer = issuer.rstrip("/")
    url = f"{issuer}/.well-known/openid-configuration"
    key = _cache_key("discovery", url)
    document = cache.get(key) if use_cache else None
    if document is None:
        document = _outbound(outbound.fetch_json, url, max_bytes=MAX_DOCUMENT_BYTES)
    if not isinstance(document, dict):
        raise OidcError("json", detail="discovery_not_object")
    if str(document.get("issuer", "")).rstrip("/") != issuer:
        raise OidcError(
            "issuer_mismatch",
            detail="issuer_mismatch",
            params={"theirs": str(document.get("issuer"))[:200]},
        )
    fields = ("authorization_endpoint", "token_endpoint", "jwks_uri")
    missing = [f for f in fields if not isinstance(document.get(f), str) or not document[f]]
    if missing:
        raise OidcError(
            "discovery", detail="discovery_incomplete", params={"fields": ", ".join(missing)}
        )
    algs = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    if not isinstance(algs, list) or not set(algs) & set(ALGORITHMS):
        raise OidcError("algorithm", detail="no_supported_algorithm")
    methods = document.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if use_cache:
        cache.set(key, document, DISCOVERY_CACHE_SECONDS)
    userinfo = document.get("userinfo_endpoint")
    return ProviderMetadata(
        issuer=str(document["issuer"]),
        authorization_endpoint=document["authorization_endpoint"],
        token_endpoint=document["token_endpoint"],
        jwks_uri=document["jwks_uri"],
        userinfo_endpoint=userinfo if isinstance(userinfo, str) else None,
        token_endpoint_auth_methods=tuple(str(m) for m in methods if isinstance(m, str)),
    )


# --- JWKS -----------------------------------------------------------------------------------


def _fetch_jwks(jwks_uri: str) -> list[dict]:
    document = _outbound(outbound.fetch_json, jwks_uri, max_bytes=MAX_DOCUMENT_BYTES)
    keys = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(keys, list):
        raise OidcError("json", _("The provider's key set is not a JWKS document."))
    keys = [k for k in keys if isinstance(k, dict)]
    cache.set(_cache_key("jwks", jwks_uri), keys, JWKS_CACHE_SECONDS)
    return keys


def _find_key(keys: list[dict], kid: str | None, alg: str) -> dict | None:
    candidates = [
        k
        for k in keys
        if k.get("kty") == _KEY_TYPES[alg]
        and k.get("use", "sig") == "sig"
        and k.get("alg", alg) == alg
    ]
    if kid is not None:
        candidates = [k for k in candidates if k.get("kid") == kid]
    elif len(candidates) != 1:  # no kid: only an unambiguous key will do
        return None
    return candidates[0] if candidates else None


def signing_key(jwks_uri: str, kid: str | None, alg: str) -> jwt.PyJWK:
    """The provider's key for ``kid``: from the cached JWKS, refetched once when the kid is
    unknown (the provider rotated its keys), at most every JWKS_REFRESH_MIN_SECONDS."""
    keys = cache.get(_cache_key("jwks", jwks_uri))
    found = _find_key(keys, kid, alg) if keys is not None else None
    if found is None and (
        keys is None
        or cache.add(_cache_key("jwks-refresh", jwks_uri), True, JWKS_REFRESH_MIN_SECONDS)
    ):
        found = _find_key(_fetch_jwks(jwks_uri), kid, alg)
    if found is None:
        raise OidcError(
            "unknown_key", _("The ID token is signed with a key the provider does not publish.")
        )
    try:
        return jwt.PyJWK(found, algorithm=alg)
    except jwt.PyJWTError as exc:
        raise OidcError("unknown_key", _("The provider's signing key could not be read.")) from exc


# --- The authorization request and the token exchange --------------------------------------


def authorization_request(
    connection: OidcConnection, provider: ProviderMetadata, *, login_hint: str | None = None
) -> AuthorizationRequest:
    """The URL to send the browser to, with fresh state, nonce and a PKCE (S256) verifier."""
    state = secrets.token_urlsafe(32)
    nonce = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)  # 86 characters, within RFC 7636's 43–128
    params = {
        "response_type": "code",
        "client_id": connection.client_id,
        "redirect_uri": redirect_uri(connection.provider_id),
        "scope": " ".join(connection.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": generate_code_challenge(code_verifier, "S256"),
        "code_challenge_method": "S256",
    }
    if login_hint:
        params["login_hint"] = login_hint
    separator = "&" if "?" in provider.authorization_endpoint else "?"
    return AuthorizationRequest(
        url=f"{provider.authorization_endpoint}{separator}{urlencode(params)}",
        state=state,
        nonce=nonce,
        code_verifier=code_verifier,
    )


def state_matches(expected: str, received: str | None) -> bool:
    return bool(received) and hmac.compare_digest(expected.encode(), str(received).encode())


def exchange_code(
    connection: OidcConnection, provider: ProviderMetadata, *, code: str, code_verifier: str
) -> TokenResponse:
    """Trade the authorization code (and the PKCE verifier) for tokens at the token endpoint.
    The ID token still has to pass :func:`verify_id_token`."""
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri(connection.provider_id),
        "code_verifier": code_verifier,
    }
    headers = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Accept": "application/json",
    }
    if (
        "client_secret_basic" in provider.token_endpoint_auth_methods
        or "client_secret_post" not in provider.token_endpoint_auth_methods
    ):
        # RFC 6749 §2.3.1: each part form-encoded before the base64.
        pair = f"{quote(connection.client_id, safe='')}:{quote(connection.client_secret, safe='')}"
        headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
    else:
        form |= {"client_id": connection.client_id, "client_secret": connection.client_secret}
    response = _outbound(
        outbound.fetch,
        provider.token_endpoint,
        method="POST",
        body=urlencode(form).encode(),
        headers=headers,
        max_bytes=MAX_DOCUMENT_BYTES,
        expect_status=(200, 400, 401),
    )
    payload = _outbound(response.json)
    if response.status != 200 or not isinstance(payload, dict):
        error = payload.get("error") if isinstance(payload, dict) else None
        raise OidcError(
            "token",
            _("The provider refused the sign-in code (%(error)s).")
            % {"error": str(error or response.status)[:100]},
        )
    id_token = payload.get("id_token")
    if not isinstance(id_token, str) or not id_token:
        raise OidcError("token", _("The provider's answer has no ID token."))
    access_token = payload.get("access_token")
    return TokenResponse(
        id_token=id_token,
        access_token=access_token if isinstance(access_token, str) else None,
        raw=payload,
    )


# --- The ID token ---------------------------------------------------------------------------


def verify_id_token(
    connection: OidcConnection,
    provider: ProviderMetadata,
    id_token: str,
    *,
    nonce: str,
    now: float | None = None,
) -> dict:
    """The ID token's claims, once its signature (RS256/ES256, the provider's JWKS), ``iss``,
    ``aud``, ``azp``, ``exp``/``iat`` (± CLOCK_SKEW_SECONDS), ``nonce`` and a verified
    ``email`` are all right; any failure is an OidcError."""
    if not isinstance(id_token, str) or not id_token or len(id_token) > MAX_TOKEN_CHARS:
        raise OidcError("malformed", _("The ID token is not a JWT."))
    try:
        header = jwt.get_unverified_header(id_token)
    except jwt.PyJWTError as exc:
        raise OidcError("malformed", _("The ID token is not a JWT.")) from exc
    alg = header.get("alg")
    if alg not in ALGORITHMS:
        raise OidcError(
            "algorithm",
            _("ID tokens signed with %(alg)s are refused: only RS256 and ES256 are accepted.")
            % {"alg": str(alg)[:20]},
        )
    kid = header.get("kid")
    key = signing_key(provider.jwks_uri, kid if isinstance(kid, str) else None, alg)
    now = time.time() if now is None else now
    try:
        claims = jwt.decode(
            id_token,
            key.key,
            algorithms=[alg],
            audience=connection.client_id,
            issuer=provider.issuer,
            leeway=CLOCK_SKEW_SECONDS,
            options={
                "require": ["iss", "sub", "aud", "exp", "iat"],
                "verify_exp": False,  # checked below against ``now``
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except jwt.InvalidSignatureError as exc:
        raise OidcError("signature", _("The ID token's signature is not valid.")) from exc
    except jwt.InvalidAudienceError as exc:
        raise OidcError("audience", _("The ID token is meant for another client.")) from exc
    except jwt.InvalidIssuerError as exc:
        raise OidcError("issuer", _("The ID token comes from another issuer.")) from exc
    except jwt.PyJWTError as exc:
        raise OidcError("malformed", _("The ID token could not be read.")) from exc

    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    azp = claims.get("azp")
    if (len(audiences) > 1 or azp is not None) and azp != connection.client_id:
        raise OidcError("azp", _("The ID token was issued to another client (azp)."))
    exp, iat = claims["exp"], claims["iat"]
    if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in (exp, iat)):
        raise OidcError("malformed", _("The ID token's times are not numbers."))
    if exp + CLOCK_SKEW_SECONDS <= now:
        raise OidcError("expired", _("The ID token has expired."))
    if iat - CLOCK_SKEW_SECONDS > now:
        raise OidcError("issued_in_future", _("The ID token is issued in the future."))
    nbf = claims.get("nbf")
    if isinstance(nbf, int | float) and nbf - CLOCK_SKEW_SECONDS > now:
        raise OidcError("issued_in_future", _("The ID token is not valid yet."))
    received = claims.get("nonce")
    if not isinstance(received, str) or not hmac.compare_digest(received.encode(), nonce.encode()):
        raise OidcError("nonce", _("The ID token does not answer this sign-in (nonce)."))
    email = claims.get("email")
    if not isinstance(email, str) or "@" not in email:
        raise OidcError("email_unverified", _("The ID token carries no email address."))
    # True, or the string "true" that some providers send.
    if claims.get("email_verified") not in (True, "true"):
        raise OidcError("email_unverified", _("The provider has not verified this email address."))
    return claims
