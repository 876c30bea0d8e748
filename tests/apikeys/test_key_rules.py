"""A key's refusal rules are written once (``apikeys.rules``): verification, holds and the
customer's ``/v1/key`` refuse the same key state with the same error. And reading a
balance creates nothing: an owner who never had credits reads as 0."""

from datetime import timedelta

import pytest
from django.utils import timezone

from apikeys import services
from apikeys.models import ApiKey, KeyMonthSpend
from billing.models import Hold, Wallet

from .factories import CREDIT, assert_envelope, customer, fund, key_make, personal, rid

pytestmark = pytest.mark.django_db


def _revoked(key):
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED)


def _disabled(key):
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.DISABLED)


def _expired(key):
    ApiKey.objects.filter(pk=key.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


def _owner_deleted(key):
    key.organization.deleted_at = timezone.now()
    key.organization.save(update_fields=["deleted_at"])


STATES = [
    (_revoked, "key_revoked", 401),
    (_disabled, "key_disabled", 401),
    (_expired, "key_expired", 401),
    (_owner_deleted, "key_revoked", 401),
]


def _verify(internal, plaintext, key):
    return internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")


def _hold(internal, plaintext, key):
    body = {"key_id": key.public_id, "amount_microcredits": CREDIT, "reference": rid()}
    return internal.post("/internal/v1/holds", body, format="json")


def _self(internal, plaintext, key):
    client, headers, path = customer(plaintext)
    return client.get(path, **headers)


SURFACES = {"verify": _verify, "holds": _hold, "v1-key": _self}


@pytest.mark.parametrize(("make_state", "error_type", "status"), STATES)
@pytest.mark.parametrize("surface", sorted(SURFACES))
def test_every_surface_refuses_an_unusable_key_alike(
    internal, owner, surface, make_state, error_type, status
):
    org = personal(owner)
    fund(org, 100)
    key, plaintext = key_make(org=org, actor=owner)
    make_state(key)
    error = assert_envelope(SURFACES[surface](internal, plaintext, key), status, error_type)
    # The same message everywhere: it comes from one place.
    expected = assert_envelope(_verify(internal, plaintext, key), status, error_type)
    assert error["message"] == expected["message"]
    assert not Hold.objects.exists()


def test_a_key_over_its_cap_may_not_hold_credits(internal, owner):
    org = personal(owner)
    fund(org, 100)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    KeyMonthSpend.objects.create(
        key=key, period=timezone.now().strftime("%Y-%m"), spend_microcredits=10 * CREDIT
    )
    verify_error = assert_envelope(
        _verify(internal, plaintext, key), 402, "spending_limit_exceeded"
    )
    hold_error = assert_envelope(_hold(internal, plaintext, key), 402, "spending_limit_exceeded")
    assert hold_error == verify_error
    assert not Hold.objects.exists()
    # Its owner may still read the key and see why.
    response = _self(internal, plaintext, key)
    assert response.status_code == 200
    assert response.json()["period_spend_microcredits"] == 10 * CREDIT


def test_a_rotated_out_secret_is_refused_by_verify_and_v1_key_alike(internal, owner):
    org = personal(owner)
    fund(org, 100)
    key, old = key_make(org=org, actor=owner)
    services.apikey_rotate(key=key, actor=owner, grace_seconds=60)
    ApiKey.objects.filter(pk=key.pk).update(
        previous_valid_until=timezone.now() - timedelta(seconds=1)
    )
    verify_error = assert_envelope(_verify(internal, old, key), 401, "key_revoked")
    self_error = assert_envelope(_self(internal, old, key), 401, "key_revoked")
    assert self_error["message"] == verify_error["message"]


def test_reading_an_unfunded_owner_creates_no_wallet(
    internal, owner, client_for, django_capture_on_commit_callbacks
):
    org = personal(owner)
    key, plaintext = key_make(org=org, actor=owner)
    assert not Wallet.objects.filter(organization=org).exists()

    answer = _verify(internal, plaintext, key)
    assert answer.status_code == 200, answer.content
    assert answer.json()["wallet"] == {
        "id": None,
        "balance_microcredits": 0,
        "available_microcredits": 0,
    }
    self_read = _self(internal, plaintext, key).json()
    assert (self_read["balance_microcredits"], self_read["available_microcredits"]) == (0, 0)
    page = client_for(owner).get("/billing")
    assert page.status_code == 200
    statement = client_for(owner).get("/billing/statement")
    assert statement.status_code == 200
    assert not Wallet.objects.filter(organization=org).exists()

    # The first movement of money creates it, and verification then names it (the
    # ledger's balance_changed signal refreshed the cached answer).
    with django_capture_on_commit_callbacks(execute=True):
        fund(org, 5)
    wallet = Wallet.objects.get(organization=org)
    answer = _verify(internal, plaintext, key).json()
    assert answer["wallet"]["id"] == wallet.public_id
    assert answer["wallet"]["balance_microcredits"] == 5 * CREDIT
