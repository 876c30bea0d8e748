"""Rate limits answer 429 with the envelope and a Retry-After header."""

import pytest
from django.test import Client
from rest_framework.settings import api_settings
from rest_framework.throttling import SimpleRateThrottle

from tests.accounts.factories import UserFactory

from .envelope import assert_envelope

USER_LIMIT = 3
ANON_LIMIT = 2


@pytest.fixture(autouse=True)
def tiny_rates(settings, monkeypatch):
    settings.REST_FRAMEWORK = {
        **settings.REST_FRAMEWORK,
        "DEFAULT_THROTTLE_RATES": {"user": f"{USER_LIMIT}/min", "anon": f"{ANON_LIMIT}/min"},
    }
    # DRF reloads api_settings when REST_FRAMEWORK changes, but SimpleRateThrottle copied
    # the rates into a class attribute at import time (DRF's own tests patch it the same way).
    monkeypatch.setattr(SimpleRateThrottle, "THROTTLE_RATES", api_settings.DEFAULT_THROTTLE_RATES)


def _assert_rate_limited(response) -> None:
    assert_envelope(response, 429, "rate_limited")
    retry_after = int(response["Retry-After"])
    assert 1 <= retry_after <= 60


def test_user_over_the_limit_gets_429(api_client_for, user):
    client = api_client_for(user)
    for _ in range(USER_LIMIT):
        assert client.get("/api/me").status_code == 200
    _assert_rate_limited(client.get("/api/me"))
    # Writes count against the same quota.
    _assert_rate_limited(client.patch("/api/me", {"name": "x"}, format="json"))


def test_limit_is_per_user(api_client_for, user):
    client = api_client_for(user)
    for _ in range(USER_LIMIT):
        client.get("/api/me")
    _assert_rate_limited(client.get("/api/me"))

    other = api_client_for(UserFactory())
    assert other.get("/api/me").status_code == 200


@pytest.mark.django_db
def test_anonymous_over_the_limit_gets_429():
    client = Client()
    for _ in range(ANON_LIMIT):
        assert client.get("/api/schema/").status_code == 200
    _assert_rate_limited(client.get("/api/schema/"))
