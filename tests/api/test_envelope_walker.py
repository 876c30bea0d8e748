"""Every API route, found by walking the URL resolver, answers the error envelope for the
errors a client can provoke without knowing anything about the route: signed out (401),
wrong method (405), broken JSON (400) and a non-JSON body (415).

Routes added later under ``api/``, ``internal/`` or ``v1/`` are checked automatically.
"""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from apikeys.services import apikey_create, service_token_create
from orgs.services import personal_org_get_or_create

from .envelope import assert_envelope
from .routes import BODY_METHODS, HTTP_METHODS, api_routes

# Intentionally reachable without signing in: path -> URL name. If one of these goes away
# or is renamed, the allow-list must be edited on purpose (see test below).
PUBLIC_ROUTES = {
    "/api/schema/": "api-schema",
    "/api/docs/": "api-docs",
    "/v1/gpu-types": "v1-gpu-types",  # the GPU catalog, public like /models
}
# Public JSON endpoints that are not GET: path -> URL name (the first step of signing in).
PUBLIC_POST_ROUTES = {
    "/api/auth/sso/start": "api-sso-start",
}
# Routes that are not endpoints: the catch-all that turns unknown API URLs into a JSON 404,
# and the SSO endpoints an identity provider sends browsers to (the SAML ACS, the OIDC
# callback, our SP metadata): they answer redirects, HTML pages and XML by design
# (docs/sso.md, "Signing in"), and are tested in tests/sso/test_signin.py.
NOT_ENDPOINTS = {"api-not-found", "sso_saml_acs", "sso_oidc_callback", "sso_sp_metadata"}

ALL_ROUTES = api_routes()
ENDPOINTS = [r for r in ALL_ROUTES if r.name not in NOT_ENDPOINTS]
DRF_ENDPOINTS = [r for r in ENDPOINTS if r.allowed_methods is not None]

PRIVATE_CALLS = [
    pytest.param(route, method, id=f"{method} {route}")
    for route in DRF_ENDPOINTS
    if route.path not in PUBLIC_ROUTES and route.path not in PUBLIC_POST_ROUTES
    for method in route.allowed_methods
]
DISALLOWED_CALLS = [
    pytest.param(route, method, id=f"{method} {route}")
    for route in DRF_ENDPOINTS
    for method in HTTP_METHODS
    if method not in route.allowed_methods
]
BODY_CALLS = [
    pytest.param(route, method, id=f"{method} {route}")
    for route in DRF_ENDPOINTS
    for method in route.allowed_methods
    if method in BODY_METHODS
]


def test_walker_finds_the_api():
    paths = {route.path for route in ENDPOINTS}
    assert "/api/me" in paths
    assert {route.name for route in ALL_ROUTES} >= NOT_ENDPOINTS
    # The parametrised lists below are never empty, so none of them passes by having no cases.
    assert PRIVATE_CALLS and DISALLOWED_CALLS and BODY_CALLS


def test_public_allow_list_matches_the_routes():
    routes = {route.path: route.name for route in ENDPOINTS}
    public = PUBLIC_ROUTES | PUBLIC_POST_ROUTES
    missing = {path: name for path, name in public.items() if routes.get(path) != name}
    assert not missing, f"allow-listed public routes no longer exist: {missing}"
    browser = {route.name for route in ALL_ROUTES} & NOT_ENDPOINTS
    assert browser == NOT_ENDPOINTS, "an allow-listed non-endpoint no longer exists"


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(PUBLIC_POST_ROUTES))
def test_public_post_routes_answer_signed_out_callers(path):
    response = Client().post(path, {"email": "a@example.com"}, content_type="application/json")
    assert response.status_code == 200, response.content


@pytest.mark.parametrize("route", ENDPOINTS, ids=str)
def test_every_api_route_is_a_drf_view(route):
    """Only DRF views get the envelope for 401/405/415 from the exception handler."""
    assert route.allowed_methods is not None, f"{route} is served by {route.view_name}"


@pytest.mark.django_db
@pytest.mark.parametrize(("route", "method"), PRIVATE_CALLS)
def test_signed_out_call_gets_401(route, method):
    response = Client().generic(method, route.path, "{}", content_type="application/json")
    assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", sorted(PUBLIC_ROUTES))
def test_public_routes_answer_signed_out_callers(path):
    assert Client().get(path).status_code == 200


@pytest.fixture
def credentialed(api_client_for, user):
    """A client holding the credential each surface accepts: a session for ``/api/``, a
    ``svc_`` token for ``/internal/``, a ``ck_`` key for ``/v1/``."""

    def make(route):
        if route.path.startswith("/internal/"):
            _token, plaintext = service_token_create(name="walker")
            return APIClient(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        if route.path.startswith("/v1/"):
            org = personal_org_get_or_create(user=user)
            _key, plaintext = apikey_create(organization=org, actor=user, name="walker")
            return APIClient(HTTP_AUTHORIZATION=f"Bearer {plaintext}")
        return api_client_for(user)

    return make


@pytest.mark.parametrize(("route", "method"), DISALLOWED_CALLS)
def test_wrong_method_gets_405(route, method, credentialed):
    response = credentialed(route).generic(
        method, route.path, "{}", content_type="application/json"
    )
    assert_envelope(response, 405, "method_not_allowed")
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert set(route.allowed_methods) <= allowed
    assert method not in allowed


def _expected_body_error_statuses(route) -> set[int]:
    # A route with a path parameter may look its object up (and 404 on the sample id)
    # before it reads the body; either answer must still be the envelope.
    return {400, 404} if route.has_params else {400}


@pytest.mark.parametrize(("route", "method"), BODY_CALLS)
def test_malformed_json_gets_400(route, method, credentialed):
    response = credentialed(route).generic(
        method, route.path, '{"name": "unterminated', content_type="application/json"
    )
    assert response.status_code in _expected_body_error_statuses(route)
    error = assert_envelope(response, response.status_code)
    if response.status_code == 400:
        assert error["type"] == "invalid_request"
        assert "JSON" in error["message"]


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", "text/plain", "application/xml"]
)
@pytest.mark.parametrize(("route", "method"), BODY_CALLS)
def test_non_json_body_gets_415(route, method, content_type, credentialed):
    response = credentialed(route).generic(
        method, route.path, "name=Ada", content_type=content_type
    )
    if route.has_params and response.status_code == 404:
        assert_envelope(response, 404)
        return
    error = assert_envelope(response, 415, "unsupported_media_type")
    assert content_type in error["message"]
