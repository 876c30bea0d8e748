"""The verification cache: shared by every worker, and invalidated after commit by every
change that matters, so the very next verify sees it."""

import os

import pytest
from django.core.cache import cache
from django.db import transaction
from rest_framework.test import APIClient

from apikeys import keyformat, services, verification
from apikeys.models import ApiKey
from billing import catalog
from billing.models import Wallet
from orgs.services import org_delete
from tests.accounts.factories import UserFactory
from usage.ingest import usage_ingest

from .factories import (
    CREDIT,
    assert_envelope,
    event,
    fund,
    key_make,
    personal,
    service_client,
    team,
)
from .processes import Worker, shared_backends

URL = "/internal/v1/keys/verify"


def verify(internal, plaintext, **extra):
    return internal.post(URL, {"key": plaintext, **extra}, format="json")


def cached_entry(plaintext):
    return cache.get(verification._cache_key(keyformat.hash_secret(plaintext)))


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


# --- one process, after commit ----------------------------------------------------------


@pytest.mark.django_db
def test_after_revoke_the_very_next_verify_is_refused(internal, owner, funded_key, capture):
    key, plaintext = funded_key
    assert verify(internal, plaintext).status_code == 200
    assert isinstance(cached_entry(plaintext), dict)
    browser = APIClient()
    browser.force_login(owner)
    with capture(execute=True) as callbacks:
        response = browser.delete(f"/api/api-keys/{key.public_id}")
        # Before commit the cache still holds the entry (a rollback must not lose it).
        assert isinstance(cached_entry(plaintext), dict)
    assert response.status_code == 200 and callbacks
    assert cached_entry(plaintext) is None
    assert_envelope(verify(internal, plaintext), 401, "key_revoked")


@pytest.mark.django_db
def test_a_rolled_back_change_keeps_the_cache(internal, owner, funded_key, capture):
    key, plaintext = funded_key
    verify(internal, plaintext)
    with capture(execute=True), pytest.raises(RuntimeError), transaction.atomic():
        services.apikey_revoke(key=key, actor=owner)
        raise RuntimeError("rolled back")
    assert isinstance(cached_entry(plaintext), dict)
    assert ApiKey.objects.get(pk=key.pk).status == "active"
    assert verify(internal, plaintext).status_code == 200


@pytest.mark.django_db
def test_rotation_without_grace_refuses_the_cached_old_secret(internal, owner, funded_key, capture):
    key, old = funded_key
    assert verify(internal, old).status_code == 200
    with capture(execute=True):
        _key, new = services.apikey_rotate(key=key, actor=owner)
    assert_envelope(verify(internal, old), 401, "invalid_api_key")
    assert verify(internal, new).status_code == 200


@pytest.mark.django_db
def test_a_top_up_lets_an_insufficient_key_through_at_once(internal, owner, capture):
    org = personal(owner)
    fund(org, 150)
    _key, plaintext = key_make(org=org, actor=owner)
    assert_envelope(verify(internal, plaintext, model="gpt-5.5"), 402, "insufficient_credits")
    with capture(execute=True):
        fund(org, 50)
    answer = verify(internal, plaintext, model="gpt-5.5")
    assert answer.status_code == 200, answer.content
    # Available = balance − held − reserved: this very call reserved its default estimate.
    assert answer.json()["wallet"]["available_microcredits"] == 200 * CREDIT - _default("gpt-5.5")


@pytest.mark.django_db
def test_usage_that_takes_the_balance_below_the_minimum_is_seen_at_once(internal, owner, capture):
    org = personal(owner)
    fund(org, 300)
    key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext, model="gpt-5.5").status_code == 200  # cached: 300
    with capture(execute=True):
        usage_ingest(events=[event(key, model="veo3.1-fast", endpoint="videos", clips=2)])
    assert Wallet.objects.get(organization=org).balance_microcredits == 100 * CREDIT
    error = assert_envelope(
        verify(internal, plaintext, model="gpt-5.5"), 402, "insufficient_credits"
    )
    # The first verification's reservation (never reported) still counts.
    assert error["available_microcredits"] == 100 * CREDIT - _default("gpt-5.5")


def _default(model: str) -> int:
    """What a verification of ``model`` without an estimate reserves."""
    return verification.reservation_estimate(catalog.resolve(model), estimate=None)


@pytest.mark.django_db
def test_a_hold_that_leaves_too_little_is_seen_at_once(internal, owner, capture):
    org = personal(owner)
    fund(org, 300)
    key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext, model="gpt-5.5").status_code == 200
    with capture(execute=True):
        response = internal.post(
            "/internal/v1/holds",
            {"key_id": key.public_id, "amount_microcredits": 150 * CREDIT, "reference": "gpu-1"},
            format="json",
        )
    assert response.status_code == 201
    assert_envelope(verify(internal, plaintext, model="gpt-5.5"), 402, "insufficient_credits")
    with capture(execute=True):
        internal.post(f"/internal/v1/holds/{response.json()['hold_id']}/release")
    assert verify(internal, plaintext, model="gpt-5.5").status_code == 200


@pytest.mark.django_db
def test_deleting_the_organization_refuses_its_keys(internal, owner, capture):
    org = team(owner)
    fund(org, 500)
    _key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext).status_code == 200
    with capture(execute=True):
        org_delete(organization=org, actor=owner, confirm_slug=org.slug)
    assert_envelope(verify(internal, plaintext), 401, "key_revoked")


@pytest.mark.django_db
def test_a_limit_change_is_seen_at_once(internal, owner, capture):
    org = personal(owner)
    fund(org, 500)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=10)
    assert verify(internal, plaintext).json()["spending_limit_microcredits"] == 10 * CREDIT
    with capture(execute=True):
        services.apikey_update(key=key, actor=owner, spending_limit_microcredits=30 * CREDIT)
    assert verify(internal, plaintext).json()["spending_limit_microcredits"] == 30 * CREDIT


# --- a second worker ------------------------------------------------------------------------


class InProcessWorker:
    """The same conversation as ``Worker``, answered in the test process (SQLite and the
    local-memory cache cannot be shared with another process)."""

    def ask(self, command: dict) -> dict:
        response = service_client(command["token"]).post(URL, command["verify"], format="json")
        return {"status": response.status_code, "body": response.json(), "pid": os.getpid()}

    def close(self) -> None:
        pass


@pytest.mark.django_db(transaction=True)
def test_revocation_is_seen_by_a_second_worker_through_the_shared_cache(svc_token):
    owner = UserFactory()
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner)
    worker = Worker() if shared_backends() else InProcessWorker()
    ask = {"token": svc_token, "verify": {"key": plaintext, "model": "gpt-5.5"}}
    try:
        first = worker.ask(ask)
        assert first["status"] == 200, first
        assert (first["pid"] != os.getpid()) == shared_backends()
        assert first["body"]["key"]["name"] == "prod-eu"
        # The worker's answer is in the cache this process reads.
        entry = cached_entry(plaintext)
        assert isinstance(entry, dict) and entry["key"]["id"] == key.public_id

        # A change that bypasses the services is not seen: the worker answers from the
        # shared cache, not from the database.
        ApiKey.objects.filter(pk=key.pk).update(name="renamed-behind-its-back")
        assert worker.ask(ask)["body"]["key"]["name"] == "prod-eu"

        # A revoke through the API (this process) is seen by the worker's very next verify.
        browser = APIClient()
        browser.force_login(owner)
        assert browser.delete(f"/api/api-keys/{key.public_id}").status_code == 200
        refused = worker.ask(ask)
        assert refused["status"] == 401, refused
        assert refused["body"]["error"]["type"] == "key_revoked"
    finally:
        worker.close()
