"""One round trip when a worker's copy of the entry has expired: the reservation and the
read of the shared entry in one script, the answer kept only if the entry is unchanged
(Redis only: the script reads the shared cache, which the in-process store cannot)."""

import pytest
from django.core.cache import cache
from django.test import override_settings

from apikeys import reservations, verification
from apikeys.models import ApiKey

from .factories import CREDIT, fund, key_make, personal
from .test_local_copies import Clock
from .test_reservations import TTS

pytestmark = pytest.mark.django_db

URL = "/internal/v1/keys/verify"
BODY = {"model": "audio-tts", "endpoint": "audio", "estimate": {"requests": 1}}


@pytest.fixture(autouse=True)
def _redis_and_local_copies():
    if not reservations.reads_shared_cache():
        pytest.skip("needs Redis as both the shared cache and the reservation store")
    with override_settings(VERIFY_LOCAL_CACHE_SECONDS=0.5):
        yield


@pytest.fixture
def trips(monkeypatch):
    """Counts the round trips of the verification path: the shared-cache read, the plain
    reservation script and the fused one."""
    counts = {"get_many": 0, "reserve": 0, "reserve_and_read": 0}
    store = reservations.store()
    for name, owner in (("get_many", cache), ("reserve", store), ("reserve_and_read", store)):
        original = getattr(owner, name)

        def counted(*args, _name=name, _original=original, **kwargs):
            counts[_name] += 1
            return _original(*args, **kwargs)

        monkeypatch.setattr(owner, name, counted)
    return counts


@pytest.fixture
def clock(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(verification, "monotonic", clock)
    return clock


def _capped(owner, limit=100):
    org = personal(owner)
    fund(org, 1000)
    return key_make(org=org, actor=owner, limit_credits=limit)


def _verify(internal, plaintext):
    return internal.post(URL, {"key": plaintext, **BODY}, format="json")


def test_an_expired_copy_costs_one_round_trip(internal, owner, trips, clock):
    _key, plaintext = _capped(owner)
    assert _verify(internal, plaintext).status_code == 200  # builds the entry and counters
    before = dict(trips)

    def since() -> dict:
        return {name: trips[name] - before[name] for name in trips}

    clock.now += 0.1  # the copy is fresh: the reservation alone
    assert _verify(internal, plaintext).status_code == 200
    assert since() == {"get_many": 0, "reserve": 1, "reserve_and_read": 0}

    clock.now += 1  # expired: one script reserves and reads the entry, found unchanged
    answer = _verify(internal, plaintext)
    assert answer.status_code == 200, answer.content
    assert since() == {"get_many": 0, "reserve": 1, "reserve_and_read": 1}
    assert answer.json()["period_reserved_microcredits"] == 3 * TTS
    assert reservations.reconcile() == []

    clock.now += 0.1  # the copy was renewed by that read
    assert _verify(internal, plaintext).status_code == 200
    assert since() == {"get_many": 0, "reserve": 2, "reserve_and_read": 1}


def test_a_revocation_elsewhere_is_refused_and_the_guess_released(internal, owner, trips, clock):
    key, plaintext = _capped(owner)
    assert _verify(internal, plaintext).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED)
    cache.delete(verification._cache_key(key.secret_hash))  # another worker's commit

    clock.now += 1
    refused = _verify(internal, plaintext)
    assert refused.status_code == 401
    assert refused.json()["error"]["type"] == "key_revoked"
    assert trips["reserve_and_read"] == 1 and trips["get_many"] == 2  # then the ordinary path
    answer = reservations.reserved(key_pk=key.pk, org_pk=key.organization_id, period=_period())
    assert answer == (TTS, TTS)  # only the first call's; the fused guess was released
    assert reservations.reconcile() == []


def test_a_changed_entry_falls_back_to_the_ordinary_path(internal, owner, trips, clock):
    key, plaintext = _capped(owner, limit=100)
    assert _verify(internal, plaintext).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(spending_limit_microcredits=4 * CREDIT)
    cache.delete(verification._cache_key(key.secret_hash))

    clock.now += 1  # the copy says 100 credits; the current entry says 4: 3 + 3 > 4
    refused = _verify(internal, plaintext)
    assert refused.status_code == 402, refused.content
    assert refused.json()["error"]["type"] == "spending_limit_exceeded"
    assert trips["reserve_and_read"] == 1
    assert reservations.reconcile() == []
    answer = reservations.reserved(key_pk=key.pk, org_pk=key.organization_id, period=_period())
    assert answer == (TTS, TTS)


def _period() -> str:
    from django.utils import timezone  # noqa: PLC0415 - test helper

    return timezone.now().strftime("%Y-%m")


def test_the_fused_script_takes_a_lease_kept_only_for_an_unchanged_entry(
    internal, owner, trips, clock
):
    """With leases, the fused script may reserve a lease too: kept when the shared entry
    proved the copy current, released with the guess when it did not."""
    key, plaintext = _capped(owner, limit=100)
    with override_settings(RESERVATION_LEASE_CALLS=4, RESERVATION_LEASE_SECONDS=60):
        assert _verify(internal, plaintext).status_code == 200  # a lease of 4
        for _ in range(3):
            clock.now += 0.1
            assert _verify(internal, plaintext).status_code == 200  # from the lease
        assert trips["reserve_and_read"] == 0 and reservations.leases.held() == 0

        clock.now += 1  # expired copy: the fused script reserves a lease, entry unchanged
        assert _verify(internal, plaintext).status_code == 200
        assert trips["reserve_and_read"] == 1 and reservations.leases.held() == 3
        held = reservations.reserved(key_pk=key.pk, org_pk=key.organization_id, period=_period())
        assert held == (8 * TTS, 8 * TTS)

        reservations.leases.release_due(everything=True)
        ApiKey.objects.filter(pk=key.pk).update(status=ApiKey.Status.REVOKED)
        cache.delete(verification._cache_key(key.secret_hash))  # another worker's commit
        clock.now += 1
        refused = _verify(internal, plaintext)
        assert refused.status_code == 401, refused.content
        assert trips["reserve_and_read"] == 2 and reservations.leases.held() == 0
    answer = reservations.reserved(key_pk=key.pk, org_pk=key.organization_id, period=_period())
    assert answer == (5 * TTS, 5 * TTS)  # the fused guess and its lease were released
    assert reservations.reconcile() == []
