"""Unknown API URLs answer a JSON 404 envelope; unknown pages answer the HTML 404 page."""

import pytest
from django.test import Client

from .envelope import assert_envelope

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "path",
    [
        "/api/nope",
        "/api/me/extra",
        "/api/me/",
        "/api/",
        "/api/schema",  # no trailing slash: no HTML redirect either
        "/internal/v1/nope",
        "/v1/chat/completions",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST", "DELETE"])
def test_unknown_api_url_answers_json_404(path, method):
    response = Client().generic(method, path, "{}", content_type="application/json")
    assert_envelope(response, 404, "not_found")


def test_unknown_api_url_answers_json_404_when_signed_in(api_client_for, user):
    assert_envelope(api_client_for(user).get("/api/nope"), 404, "not_found")


@pytest.mark.parametrize("path", ["/no-such-page", "/apiary", "/v1beta/models"])
def test_unknown_page_answers_html_404(path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")
    assert b"<html" in response.content.lower()


def test_unacceptable_accept_header_still_answers_json(api_client_for, user):
    response = api_client_for(user).get("/api/me", HTTP_ACCEPT="application/xml")
    assert_envelope(response, 406, "not_acceptable")
