"""Failures inside views: crashes answer a 500 envelope (and are logged with their
traceback), service-layer exceptions become the matching envelope."""

import pytest
from django.test import Client

from tests.logcapture import capture_json_logs

from .envelope import assert_envelope

pytestmark = [pytest.mark.urls("tests.api.error_urls"), pytest.mark.django_db]


@pytest.fixture
def client():
    # The test client re-raises view exceptions by default; a real client gets a response.
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("kind", ["drf", "plain"])
def test_crash_answers_500_envelope_and_logs_the_traceback(client, kind):
    with capture_json_logs() as lines:
        response = client.get(f"/api/test/{kind}/crash", HTTP_X_REQUEST_ID="crash-trace-1")

    error = assert_envelope(response, 500, "internal_error")
    assert "secret detail" not in response.content.decode()
    assert "logged" in error["message"]

    with_traceback = [line for line in lines if "exc_info" in line]
    assert with_traceback, lines
    logged = with_traceback[0]
    assert logged["level"] == "ERROR"
    assert "Traceback (most recent call last)" in logged["exc_info"]
    assert "RuntimeError: boom: the secret detail of the crash" in logged["exc_info"]
    assert logged["request_id"] == "crash-trace-1"


def test_crash_in_a_page_answers_the_html_500_page(client):
    response = client.get("/test-page/crash")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")


def test_application_error_keeps_its_type_status_and_extra(client):
    response = client.get("/api/test/drf/application")
    error = assert_envelope(response, 402, "insufficient_credits")
    assert error["message"] == "Not enough credits."
    assert error["balance"] == 0


def test_django_validation_error_becomes_a_validation_envelope(client):
    error = assert_envelope(client.get("/api/test/drf/django-validation"), 400, "validation_error")
    assert error["fields"] == {"name": ["Too long."]}
    assert "Too long." in error["message"]


def test_django_validation_error_without_fields(client):
    error = assert_envelope(
        client.get("/api/test/drf/django-validation-list"), 400, "validation_error"
    )
    assert error["fields"] == {"non_field_errors": ["Nothing to update."]}
    assert error["message"] == "Nothing to update."


@pytest.mark.parametrize("kind", ["drf", "plain"])
@pytest.mark.parametrize(
    ("failure", "status", "type"),
    [("not-found", 404, "not_found"), ("permission-denied", 403, "permission_denied")],
)
def test_django_exceptions_become_envelopes(client, kind, failure, status, type):
    assert_envelope(client.get(f"/api/test/{kind}/{failure}"), status, type)


def test_suspicious_request_in_plain_api_view_answers_400_envelope(client):
    assert_envelope(client.get("/api/test/plain/suspicious"), 400, "invalid_request")


def test_csrf_failure_in_plain_api_view_answers_403_envelope():
    client = Client(enforce_csrf_checks=True)
    error = assert_envelope(client.post("/api/test/plain-post"), 403, "csrf_failed")
    assert "CSRF" in error["message"]


def test_csrf_failure_on_a_page_answers_html():
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"login": "a@example.com", "password": "x"})
    assert response.status_code == 403
    assert response["Content-Type"].startswith("text/html")
