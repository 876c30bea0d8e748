"""``GET /v1/key``: a customer's own key, sent in any of the gateway's four forms."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone
from rest_framework.test import APIClient

from apikeys import keyformat, services
from apikeys.models import KeyMonthSpend

from .factories import CREDIT, assert_envelope, customer, fund, key_make, personal

pytestmark = pytest.mark.django_db

FORMS = ["bearer", "x-api-key", "x-goog-api-key", "query"]


@pytest.mark.parametrize("form", FORMS)
def test_the_key_reads_itself_in_every_form(owner, form):
    org = personal(owner)
    fund(org, 750)
    key, plaintext = key_make(org=org, actor=owner, name="laptop", limit_credits=300)
    KeyMonthSpend.objects.create(
        key=key, period=timezone.now().strftime("%Y-%m"), spend_microcredits=12 * CREDIT
    )
    client, headers, path = customer(plaintext, form)
    response = client.get(path, **headers)
    assert response.status_code == 200, response.content
    assert response.json() == {
        "id": key.public_id,
        "name": "laptop",
        "prefix": key.masked,
        "spending_limit_microcredits": 300 * CREDIT,
        "period": timezone.now().strftime("%Y-%m"),
        "period_spend_microcredits": 12 * CREDIT,
        "period_reserved_microcredits": 0,
        "balance_microcredits": 750 * CREDIT,
        "available_microcredits": 750 * CREDIT,
    }


def test_calls_in_flight_are_reserved_out_of_the_available_balance(owner, internal):
    org = personal(owner)
    fund(org, 750)
    _key, plaintext = key_make(org=org, actor=owner, limit_credits=300)
    body = {"key": plaintext, "model": "audio-tts", "estimate": {"requests": 2}}
    assert internal.post("/internal/v1/keys/verify", body, format="json").status_code == 200
    client, headers, path = customer(plaintext, "bearer")
    answer = client.get(path, **headers).json()
    assert answer["period_reserved_microcredits"] == 6 * CREDIT
    assert answer["balance_microcredits"] == 750 * CREDIT
    assert answer["available_microcredits"] == 744 * CREDIT


def test_no_key_is_401():
    assert_envelope(APIClient().get("/v1/key"), 401, "not_authenticated")


@pytest.mark.parametrize("form", FORMS)
def test_a_revoked_key_is_401_key_revoked(owner, form):
    key, plaintext = key_make(org=personal(owner), actor=owner)
    services.apikey_revoke(key=key, actor=owner)
    client, headers, path = customer(plaintext, form)
    assert_envelope(client.get(path, **headers), 401, "key_revoked")


@pytest.mark.parametrize("form", FORMS)
def test_an_expired_key_is_401_key_expired(owner, form):
    key, plaintext = key_make(
        org=personal(owner), actor=owner, expires_at=timezone.now() + timedelta(minutes=5)
    )
    type(key).objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client, headers, path = customer(plaintext, form)
    assert_envelope(client.get(path, **headers), 401, "key_expired")


@pytest.mark.parametrize("form", FORMS)
def test_a_disabled_key_is_401_key_disabled(owner, form):
    key, plaintext = key_make(org=personal(owner), actor=owner)
    with transaction.atomic():
        services.apikey_auto_disable_in_transaction(key_id=key.pk, reason="spending_limit_reached")
    client, headers, path = customer(plaintext, form)
    assert_envelope(client.get(path, **headers), 401, "key_disabled")


@pytest.mark.parametrize("form", FORMS)
def test_an_invalid_key_is_401_invalid_api_key(form):
    client, headers, path = customer(keyformat.generate_key(), form)
    assert_envelope(client.get(path, **headers), 401, "invalid_api_key")
    client, headers, path = customer("ck_" + "a" * 38, form)
    assert_envelope(client.get(path, **headers), 401, "invalid_api_key")


def test_a_rotated_key_works_in_grace_then_not(owner):
    key, old = key_make(org=personal(owner), actor=owner)
    key, new = services.apikey_rotate(key=key, actor=owner, grace_seconds=3600)
    for plaintext in (old, new):
        client, headers, path = customer(plaintext)
        assert client.get(path, **headers).status_code == 200
    type(key).objects.filter(pk=key.pk).update(
        previous_valid_until=timezone.now() - timedelta(seconds=1)
    )
    client, headers, path = customer(old)
    assert_envelope(client.get(path, **headers), 401, "key_revoked")
    client, headers, path = customer(new)
    assert client.get(path, **headers).status_code == 200
