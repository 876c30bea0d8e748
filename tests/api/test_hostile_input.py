"""Input no view can use never reaches a view, on every route: a NUL byte in a path
parameter is a 404, one in a query parameter a 400, JSON nested beyond reason a 400 and a
body above the endpoint's limit a 413. On PostgreSQL (which refuses NUL in text) each of
these was a 500."""

import json

import pytest
from django.conf import settings
from django.test import Client

from hypereal_site.api.errors import is_api_path
from hypereal_site.api.jsonbody import MAX_DEPTH, parse_json
from hypereal_site.middleware import body_limit
from orgs.models import AuditEvent
from tests.accounts.factories import UserFactory
from tests.api import test_envelope_walker as envelope_walker
from tests.logcapture import capture_json_logs

from .envelope import assert_envelope
from .routes import BODY_METHODS, api_routes, nul_routes

pytestmark = pytest.mark.django_db

NUL_ROUTES = nul_routes()


def _assert_not_found(response, path):
    if is_api_path(path):
        assert_envelope(response, 404, "not_found")
    else:
        assert response.status_code == 404, (path, response.status_code)
        assert response["Content-Type"].startswith("text/html")


@pytest.fixture
def staff_client():
    """A superuser: the admin's routes answer instead of redirecting to the login."""
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    return client


def test_the_walk_covers_pages_apis_and_the_admin():
    paths = {route.path for route in NUL_ROUTES}
    assert "/api/orgs/%00" in paths
    assert "/manage-api-keys/%00" in paths
    assert any(path.startswith("/admin/") for path in paths)
    assert any(path.startswith("/internal/") for path in paths)


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("route", NUL_ROUTES, ids=str)
def test_a_nul_byte_in_a_path_parameter_is_a_404(route, method, staff_client):
    response = staff_client.generic(method, route.path, "{}", content_type="application/json")
    _assert_not_found(response, route.path)


@pytest.mark.parametrize("route", NUL_ROUTES, ids=str)
def test_a_nul_byte_is_a_404_for_signed_out_callers_too(route):
    _assert_not_found(Client().get(route.path), route.path)


@pytest.mark.parametrize(
    "path", ["/api/orgs/a%00b", "/settings/organization/audit/%00", "/%00", "/api/%00/x"]
)
def test_a_nul_byte_anywhere_in_a_path_is_a_404(path, staff_client):
    _assert_not_found(staff_client.get(path), path)


@pytest.mark.parametrize(
    "url",
    ["/models?q=%00", "/models?%00=1", "/settings/organization/audit?actor=a%00b"],
)
def test_a_nul_byte_in_a_query_parameter_is_a_400_page(url, staff_client):
    response = staff_client.get(url)
    assert response.status_code == 400
    assert response["Content-Type"].startswith("text/html")


def test_a_nul_byte_in_an_api_query_parameter_is_a_400_envelope(user, api_client_for):
    response = api_client_for(user).get("/api/api-keys?x=%00")
    assert_envelope(response, 400, "invalid_request")


@pytest.mark.parametrize("query", ["q=%ED%A0%80", "q=%FF", "%C3=1"])
def test_an_undecodable_query_string_is_a_400(query, staff_client, user, api_client_for):
    # An encoded lone surrogate or a stray byte is not UTF-8: refused, not guessed at.
    assert staff_client.get(f"/models?{query}").status_code == 400
    assert_envelope(api_client_for(user).get(f"/api/api-keys?{query}"), 400, "invalid_request")


def test_utf8_and_plus_signs_in_a_query_string_still_answer(staff_client):
    assert staff_client.get("/models?q=%C3%A9l%C3%A8ve+x").status_code == 200


# --- deeply nested JSON ---------------------------------------------------------------

DEEP = "[" * 100_000


def test_parse_json_refuses_depth_nan_and_bad_bytes():
    nested_ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert parse_json(nested_ok) == parse_json(nested_ok.encode())
    for bad in (DEEP, "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1), "[NaN]", b"\xff\xfe{"):
        with pytest.raises(ValueError):
            parse_json(bad)


def test_parse_json_reads_bytes_as_json_loads_does():
    body = '{"name": "é", "n": [1, 2]}'
    for raw in (body.encode(), b"\xef\xbb\xbf" + body.encode(), body.encode("utf-16")):
        assert parse_json(raw) == json.loads(raw) == {"name": "é", "n": [1, 2]}
    assert parse_json(b'"\\ud800"') == json.loads(b'"\\ud800"')  # as the text checks expect


@pytest.fixture
def credentialed(api_client_for, user):
    return envelope_walker.credentialed.__wrapped__(api_client_for, user)


BODY_ROUTES = [
    pytest.param(route, method, id=f"{method} {route}")
    for route in api_routes()
    if route.allowed_methods
    for method in route.allowed_methods
    if method in BODY_METHODS
]


@pytest.mark.parametrize(("route", "method"), BODY_ROUTES)
def test_deeply_nested_json_is_a_400_on_every_api_route(route, method, credentialed):
    response = credentialed(route).generic(
        method, route.path, DEEP, content_type="application/json"
    )
    if route.has_params and response.status_code == 404:
        assert_envelope(response, 404)  # the sample id does not exist; still no 500
        return
    error = assert_envelope(response, 400, "invalid_request")
    assert "nested" in error["message"]


def test_deeply_nested_json_on_the_verify_fast_path(credentialed):
    route = next(r for r in api_routes() if r.name == "internal-keys-verify")
    client = credentialed(route)
    for body in (DEEP, '{"key": ' + "[" * 200 + "]" * 200 + "}"):
        response = client.post(route.path, body, content_type="application/json")
        assert_envelope(response, 400, "invalid_request")


# --- bodies above the limit -----------------------------------------------------------


def test_every_limit_fits_under_djangos_own_ceiling():
    limits = [limit for _prefix, limit in settings.REQUEST_BODY_LIMITS]
    assert max([*limits, settings.REQUEST_BODY_LIMIT_DEFAULT]) <= (
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    )
    assert body_limit("/internal/v1/usage") > body_limit("/internal/v1/keys/verify")


def test_a_body_above_the_webhook_limit_is_a_413_envelope_and_no_error_log():
    size = body_limit("/billing/stripe/webhook") + 1
    with capture_json_logs() as lines:
        response = Client().post(
            "/billing/stripe/webhook", b"x" * size, content_type="application/json"
        )
    assert_envelope(response, 413, "request_too_large")
    assert not [line for line in lines if line["level"] == "ERROR"], lines


@pytest.mark.parametrize(("route", "method"), BODY_ROUTES)
def test_a_body_above_the_limit_is_a_413_envelope_on_every_api_route(route, method, credentialed):
    body = b" " * (body_limit(route.path) + 1)
    response = credentialed(route).generic(
        method, route.path, body, content_type="application/json"
    )
    assert_envelope(response, 413, "request_too_large")


def test_a_page_post_above_the_limit_is_a_413(user, client_for):
    body = b"a=" + b"x" * settings.REQUEST_BODY_LIMIT_DEFAULT
    response = client_for(user).generic(
        "POST", "/settings/profile", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 413


def _largest_legitimate_event(index: int) -> dict:
    """One event with every text field at its documented maximum length."""
    return {
        "request_id": f"{index:06d}" + "r" * 122,
        "key_id": "K" * 16,
        "occurred_at": "2026-05-01T12:00:00.000000+00:00",
        "endpoint": "chat_completions",
        "model": "m" * 100,
        "provider": "p" * 64,
        "status_code": 200,
        "latency_ms": 2**31 - 1,
        "input_tokens": 100_000_000,
        "output_tokens": 100_000_000,
        "images": 1_000,
        "seconds": 86_400,
        "clips": 1_000,
        "requests": 1_000_000,
        "tier": "t" * 8,
    }


def test_a_full_usage_batch_fits_even_escaped(credentialed):
    route = next(r for r in api_routes() if r.name == "internal-usage")
    events = [_largest_legitimate_event(i) for i in range(settings.USAGE_BATCH_MAX)]
    plain = json.dumps({"events": events})
    # The worst a client's encoder could do: every non-ASCII-safe character \\u-escaped.
    escaped = "".join(c if c in '{}[]":,' or c.isdigit() else f"\\u{ord(c):04x}" for c in plain)
    assert len(escaped.encode()) <= body_limit(route.path)
    response = credentialed(route).post(route.path, plain, content_type="application/json")
    assert response.status_code == 200, response.content[:300]
    assert len(response.json()["rejected"]) == settings.USAGE_BATCH_MAX  # unknown key, alone


# --- NUL bytes in headers, cookies and form fields --------------------------------------


def test_a_nul_byte_in_the_session_cookie_is_an_anonymous_visitor():
    client = Client()
    client.cookies["sessionid"] = "\x00" * 40
    response = client.get("/dashboard")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_a_nul_byte_in_a_header_is_dropped_not_stored(user, client_for):
    client = client_for(user)
    response = client.post(
        "/api/orgs", {"name": "Header Inc"}, content_type="application/json",
        HTTP_USER_AGENT="agent\x00/1.0",
    )  # fmt: skip
    assert response.status_code == 201, response.content
    event = AuditEvent.objects.get(action="org.created", target_label="Header Inc")
    assert event.user_agent == "agent/1.0"


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/context/switch", {"organization": "\x00"}),
        ("/accounts/login/", {"login": "a\x00@example.com", "password": "x"}),
        ("/accounts/password/reset/", {"email": "a\x00@example.com"}),
        ("/manage-api-keys/new", {"name": "k\x00"}),
    ],
)
def test_a_nul_byte_in_a_form_field_is_a_400(path, data, user, client_for):
    response = client_for(user).post(path, data)
    assert response.status_code == 400
