"""A browser session must send the CSRF token on writes; without it nothing changes."""

import pytest
from rest_framework.test import APIClient

from .envelope import assert_envelope


@pytest.fixture
def browser(user):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


def _csrf_token(client) -> str:
    # A console page sets the cookie (and puts the token in hx-headers), as in a browser.
    assert client.get("/dashboard").status_code == 200
    return client.cookies["csrftoken"].value


def test_patch_without_token_is_refused(browser, user):
    response = browser.patch("/api/me", {"name": "Mallory"}, format="json")
    error = assert_envelope(response, 403, "permission_denied")
    assert "CSRF" in error["message"]
    assert browser.get("/api/me").json()["name"] == user.name


def test_patch_with_wrong_token_is_refused(browser, user):
    _csrf_token(browser)
    response = browser.patch(
        "/api/me", {"name": "Mallory"}, format="json", HTTP_X_CSRFTOKEN="x" * 32
    )
    assert_envelope(response, 403, "permission_denied")
    assert browser.get("/api/me").json()["name"] == user.name


def test_patch_with_token_succeeds(browser):
    token = _csrf_token(browser)
    response = browser.patch("/api/me", {"name": "Ada"}, format="json", HTTP_X_CSRFTOKEN=token)
    assert response.status_code == 200
    assert response.json()["name"] == "Ada"
    assert browser.get("/api/me").json()["name"] == "Ada"
