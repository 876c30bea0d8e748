"""Each console worker keeps what it read from the shared cache for at most
VERIFY_LOCAL_CACHE_SECONDS; a change made by another process is seen once that passes, a
change made by this process at once."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from apikeys import services, verification
from apikeys.models import ApiKey

pytestmark = pytest.mark.django_db


class Clock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(verification, "monotonic", clock)
    return clock


def verify(client, key: str):
    return client.post("/internal/v1/keys/verify", {"key": key}, format="json")


def revoke_elsewhere(key: ApiKey) -> None:
    """What another worker's revocation looks like from here: the row changes and the
    shared entry is deleted, but this process's copy is not told."""
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED)
    cache.delete(verification._cache_key(key.secret_hash))


@override_settings(VERIFY_LOCAL_CACHE_SECONDS=0.5)
def test_another_workers_revocation_is_seen_once_the_local_copy_expires(
    internal, funded_key, clock
):
    key, plaintext = funded_key
    assert verify(internal, plaintext).status_code == 200
    revoke_elsewhere(key)

    clock.now += 0.4  # still within half a second: this worker answers from its copy
    assert verify(internal, plaintext).status_code == 200

    clock.now += 0.2  # past it: the shared cache and the database say revoked
    response = verify(internal, plaintext)
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "key_revoked"


@override_settings(VERIFY_LOCAL_CACHE_SECONDS=0.5)
def test_a_revocation_in_this_process_drops_the_local_copy_at_once(
    internal, funded_key, owner, clock, django_capture_on_commit_callbacks
):
    key, plaintext = funded_key
    assert verify(internal, plaintext).status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        services.apikey_revoke(key=key, actor=owner)
    response = verify(internal, plaintext)  # no time has passed
    assert response.status_code == 401
    assert response.json()["error"]["type"] == "key_revoked"


@override_settings(VERIFY_LOCAL_CACHE_SECONDS=0.5)
def test_busy_keys_are_served_without_the_shared_cache(internal, funded_key, clock, monkeypatch):
    _key, plaintext = funded_key
    assert verify(internal, plaintext).status_code == 200
    calls = []
    for name in ("get", "get_many", "add", "set"):
        original = getattr(cache, name)
        monkeypatch.setattr(
            cache, name, lambda *a, _o=original, _n=name, **k: calls.append(_n) or _o(*a, **k)
        )
    for _ in range(5):
        assert verify(internal, plaintext).status_code == 200
    assert calls == []  # token, key entry, catalog version and last-used all local


def test_copies_are_off_when_the_setting_is_zero(internal, funded_key, clock):
    key, plaintext = funded_key
    assert verify(internal, plaintext).status_code == 200
    revoke_elsewhere(key)
    assert verify(internal, plaintext).status_code == 401  # test settings: 0 s
