"""Who may call what: ``/internal/`` takes only ``svc_`` tokens; ``/v1/`` only ``ck_`` keys;
``/api/`` only the session. Each refuses the others' credentials with a 401 envelope."""

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from apikeys import keyformat, services
from apikeys.models import ServiceToken

from .factories import assert_envelope, service_client

pytestmark = pytest.mark.django_db

INTERNAL = [
    ("post", "/internal/v1/keys/verify", {"key": "ck_x"}),
    ("post", "/internal/v1/usage", {"events": []}),
    ("post", "/internal/v1/holds", {}),
    ("post", "/internal/v1/holds/abc/capture", {}),
    ("post", "/internal/v1/holds/abc/release", {}),
    ("get", "/internal/v1/catalog", None),
]


def call(client, method, path, body, **headers):
    if method == "get":
        return client.get(path, **headers)
    return client.post(path, body, format="json", **headers)


@pytest.mark.parametrize(("method", "path", "body"), INTERNAL)
def test_no_token_is_401(method, path, body):
    response = call(APIClient(), method, path, body)
    assert_envelope(response, 401, "not_authenticated")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(
    "header",
    [
        "Bearer svc_tooshort",
        "Bearer " + "svc_" + "x" * 41,
        "Token svc_" + "a" * 40,
        "Basic dXNlcjpwYXNz",
        "Bearer ",
        "Bearer",
    ],
)
@pytest.mark.parametrize(("method", "path", "body"), INTERNAL)
def test_a_malformed_token_is_401(method, path, body, header):
    response = call(APIClient(), method, path, body, HTTP_AUTHORIZATION=header)
    assert_envelope(response, 401, "authentication_failed")


@pytest.mark.parametrize(("method", "path", "body"), INTERNAL)
def test_an_unknown_token_is_401(method, path, body):
    client = service_client(keyformat.generate_service_token())
    assert_envelope(call(client, method, path, body), 401, "authentication_failed")


def test_a_revoked_token_stops_working_at_once(
    internal, svc_token, django_capture_on_commit_callbacks
):
    assert internal.get("/internal/v1/catalog").status_code == 200  # cached now
    token = ServiceToken.objects.get(token_hash=hashlib.sha256(svc_token.encode()).hexdigest())
    with django_capture_on_commit_callbacks(execute=True):
        services.service_token_revoke(token=token)
    assert_envelope(internal.get("/internal/v1/catalog"), 401, "authentication_failed")


def test_the_token_survives_only_as_a_hash(svc_token):
    token = ServiceToken.objects.get(token_hash=hashlib.sha256(svc_token.encode()).hexdigest())
    assert token.prefix == svc_token[:8]
    for value in ServiceToken.objects.filter(pk=token.pk).values().get().values():
        assert svc_token not in str(value)


@pytest.mark.parametrize(("method", "path", "body"), INTERNAL)
def test_a_session_is_not_accepted_on_internal(method, path, body, user):
    client = APIClient()
    client.force_login(user)
    assert_envelope(call(client, method, path, body), 401, "not_authenticated")


@pytest.mark.parametrize(("method", "path", "body"), INTERNAL)
def test_a_customer_key_is_not_accepted_on_internal(method, path, body, funded_key):
    _key, plaintext = funded_key
    for headers in (
        {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"},
        {"HTTP_X_API_KEY": plaintext},
    ):
        response = call(APIClient(), method, path, body, **headers)
        assert response.status_code == 401, response.content
        assert_envelope(response, 401)


def test_a_service_token_is_not_accepted_on_v1_or_api(svc_token, user):
    assert_envelope(service_client(svc_token).get("/v1/key"), 401, "invalid_api_key")
    for path in ("/api/api-keys", "/api/orgs"):
        assert_envelope(service_client(svc_token).get(path), 401, "not_authenticated")


def test_a_session_is_not_accepted_on_v1(user):
    client = APIClient()
    client.force_login(user)
    assert_envelope(client.get("/v1/key"), 401, "not_authenticated")


def test_create_service_token_prints_it_once_and_keeps_only_the_hash():
    out, err = StringIO(), StringIO()
    call_command("create_service_token", "gateway-eu", stdout=out, stderr=err)
    printed = out.getvalue().strip()
    assert keyformat.is_service_token(printed)
    assert "not shown again" in err.getvalue() and printed not in err.getvalue()
    token = ServiceToken.objects.get(name="gateway-eu")
    assert token.token_hash == hashlib.sha256(printed.encode()).hexdigest()
    # The printed token works.
    assert service_client(printed).get("/internal/v1/catalog").status_code == 200
    # The same name twice is refused; nothing new is stored.
    with pytest.raises(CommandError, match="already exists"):
        call_command("create_service_token", "gateway-eu", stdout=StringIO(), stderr=StringIO())
    assert ServiceToken.objects.filter(name="gateway-eu").count() == 1
