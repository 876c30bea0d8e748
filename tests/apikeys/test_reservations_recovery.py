"""Reservations when the store misbehaves: a partial loss of data (a record kept, its
counters and expiry entry gone), the wallet's recovery hold after Redis lost its data, and
settlements the store refused after commit (journalled in PostgreSQL, applied later).
Runs on the in-process store (SQLite) and on Redis."""

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apikeys import reservations
from apikeys.models import ApiKey, PendingSettlement
from apikeys.tasks import expire_reservations, reconcile_reservations
from tests.api.envelope import assert_envelope
from usage.ingest import usage_ingest

from .factories import CREDIT, fund, key_make, personal
from .test_reservations import TTS, report, verify

pytestmark = pytest.mark.django_db

LATER_MS = (600 + 61) * 1000  # past the default TTL (600 s) + 60 s of the recovery holds


def _period() -> str:
    return timezone.now().strftime("%Y-%m")


def _counter(name: str) -> int:
    (value,) = reservations.store().mget([reservations._prefix() + name])
    return int(value or 0)


def _lose(names: list[str]) -> None:
    """Delete these names only, as a non-atomic flush (a SCAN, then a DEL) did: what was
    written between the two survives."""
    s = reservations.store()
    if isinstance(s, reservations.RedisStore):
        s.redis.delete(*names)
        return
    prefix = reservations._prefix()
    with s.lock:
        for name in names:
            s.values.pop(name, None)
            if name.startswith(prefix + "r:"):
                s.records.pop(name[len(prefix) + 2 :], None)
        s.expiry.clear()  # the expiry set is one name in Redis: it was in the snapshot


def _force_expiry() -> int:
    s = reservations.store()
    return s.expire(reservations._prefix(), reservations.now_ms() + LATER_MS, 1000)


def test_a_reservation_landing_inside_a_partial_loss_never_undercounts(
    internal, owner, django_capture_on_commit_callbacks
):
    """The interleaving behind the burst test's rare drift: a flush done as SCAN then DEL
    let two reservations land between the two. Their records survived, their counters and
    expiry entries did not. Settling one of them used to decrement the rebuilt counter
    (3 credits under the truth, for good: after the forced expiry and a new reservation the
    key's reserved counter read 0 against a live 3-credit record). A record outside the
    expiry set is now an orphan: released by nothing, counted nowhere, reported by
    caps_check and deleted by --fix."""
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=150)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    snapshot = reservations.store().scan(reservations._prefix() + "*")  # the flush's SCAN
    reported = verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]
    unreported = verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]
    _lose(snapshot)  # the flush's DEL
    assert reservations.amounts([reported, unreported]) == {reported: TTS, unreported: TTS}

    with django_capture_on_commit_callbacks(execute=True):
        assert usage_ingest(events=[report(key, reported)])["accepted"] == 1
    # The next verification rebuilds the counters; the key verified within the TTL, so its
    # remaining cap is held (and the wallet's available balance, see the wallet tests).
    refused = verify(internal, plaintext, estimate={"requests": 1})
    assert_envelope(refused, 402, "spending_limit_exceeded")
    assert _counter(f"kr:{key.pk}:{_period()}") == 150 * CREDIT - TTS  # cap − PostgreSQL's spend

    orphan = f"r:{unreported}: orphan record (no expiry entry; counts nowhere)"
    assert reservations.reconcile() == [orphan]
    with pytest.raises(CommandError, match="1 counter"):
        call_command("caps_check", "--fix")
    assert reservations.reconcile() == []

    assert _force_expiry() >= 1  # the recovery holds
    assert _counter(f"kr:{key.pk}:{_period()}") == 0
    again = verify(internal, plaintext, estimate={"requests": 1})
    assert again.status_code == 200, again.content
    assert _counter(f"kr:{key.pk}:{_period()}") == TTS
    assert reservations.reconcile() == []
    # The unreported call reports late: charged, and nothing released twice.
    with django_capture_on_commit_callbacks(execute=True):
        usage_ingest(events=[report(key, unreported)])
    assert _counter(f"kr:{key.pk}:{_period()}") == TTS
    assert reservations.reconcile() == []


def test_reset_loses_every_name_of_the_prefix_at_once(internal, owner):
    _key, plaintext = key_make(org=_funded(owner), actor=owner, limit_credits=100)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert reservations.store().scan(reservations._prefix() + "*")
    reservations.store().reset()
    assert reservations.store().scan(reservations._prefix() + "*") == []


def _funded(owner, credits: int = 100):
    org = personal(owner)
    fund(org, credits)
    return org


# --- the wallet after a loss of data -----------------------------------------------------


def test_after_a_loss_a_recently_used_wallet_is_held_until_the_ttl_passes(internal, owner):
    org = _funded(owner, 100)
    _key, plaintext = key_make(org=org, actor=owner)  # no cap: only the wallet bounds it
    first = verify(internal, plaintext, estimate={"requests": 1})
    assert first.status_code == 200, first.content  # a first build: nothing was in flight

    reservations.store().reset()  # Redis lost its data, with that call in flight

    error = assert_envelope(
        verify(internal, plaintext, estimate={"requests": 1}), 402, "insufficient_credits"
    )
    assert error["available_microcredits"] == 0
    assert _counter(f"wr:{org.pk}") == 100 * CREDIT  # the whole available balance
    # A call that reserves nothing and needs no balance still passes.
    assert verify(internal, plaintext, model="").status_code == 200
    assert reservations.reconcile() == []

    assert _force_expiry() == 1
    assert _counter(f"wr:{org.pk}") == 0
    answer = verify(internal, plaintext, estimate={"requests": 1})
    assert answer.status_code == 200, answer.content
    assert answer.json()["wallet"]["available_microcredits"] == 100 * CREDIT - TTS


def test_after_a_loss_a_wallet_unused_within_the_ttl_is_not_held(internal, owner):
    org = _funded(owner, 100)
    key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    ApiKey.objects.filter(pk=key.pk).update(
        last_verified_at=timezone.now() - timezone.timedelta(seconds=661)
    )
    reservations.store().reset()
    answer = verify(internal, plaintext, estimate={"requests": 1})
    assert answer.status_code == 200, answer.content
    assert _counter(f"wr:{org.pk}") == TTS


def test_a_top_up_rebuilds_the_wallet_counter_without_a_recovery_hold(
    internal, owner, django_capture_on_commit_callbacks
):
    """A credit drops the wallet's counter (rebuilt from PostgreSQL): no data was lost, so
    no hold — even for a wallet whose marker predates this feature (the settlement that
    drops a live counter sets it)."""
    org = _funded(owner, 100)
    _key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    _drop_marker(f"wseen:{org.pk}")  # as before wallet markers existed
    with django_capture_on_commit_callbacks(execute=True):
        fund(org, 10)
    answer = verify(internal, plaintext, estimate={"requests": 1})
    assert answer.status_code == 200, answer.content
    assert answer.json()["wallet"]["available_microcredits"] == 110 * CREDIT - 2 * TTS
    assert reservations.reconcile() == []


def _drop_marker(name: str) -> None:
    s = reservations.store()
    full = reservations._prefix() + name
    if isinstance(s, reservations.RedisStore):
        s.redis.delete(full)
    else:
        with s.lock:
            s.values.pop(full, None)


# --- settlement with the store down ------------------------------------------------------


@pytest.fixture
def store_down():
    """Swap in a store nobody answers; ``store_down.back()`` restores the real one."""
    previous = reservations.store()

    class Switch:
        def down(self):
            reservations.use_store(reservations.RedisStore("redis://127.0.0.1:1/0"))

        def back(self):
            reservations.use_store(previous)

    switch = Switch()
    yield switch
    switch.back()


def test_a_settlement_the_store_refuses_is_journalled_and_applied_later(
    internal, owner, store_down, django_capture_on_commit_callbacks
):
    org = _funded(owner, 100)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=50)
    rid = verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]

    store_down.down()
    with django_capture_on_commit_callbacks(execute=True):
        assert usage_ingest(events=[report(key, rid)])["accepted"] == 1  # the money commits
    with django_capture_on_commit_callbacks(execute=True):
        fund(org, 10)  # a top-up: its wallet counter move is journalled too
    store_down.back()

    # The ingestion's one settlement (the call's reservation, the key's spend, the usage
    # debit's wallet move: gathered per transaction), then the top-up's wallet move.
    pending = list(PendingSettlement.objects.order_by("pk"))
    assert [(p.reservation_ids, p.spend, p.wallets) for p in pending] == [
        ([rid], [[key.pk, _period(), TTS]], [[org.pk, -TTS]]),
        ([], [], [[org.pk, 10 * CREDIT]]),  # a credit: the counter is dropped when applied
    ]
    # Until applied, the reservation is still held and caps_check says why.
    assert _counter(f"kr:{key.pk}:{_period()}") == TTS
    with pytest.raises(CommandError):
        call_command("caps_check")
    assert any(line.startswith("settlements pending: 2") for line in reservations.reconcile())

    assert expire_reservations() == 0  # the 30 s beat task applies the journal first
    assert PendingSettlement.objects.count() == 0
    assert _counter(f"kr:{key.pk}:{_period()}") == 0
    assert _counter(f"ks:{key.pk}:{_period()}") == TTS
    call_command("caps_check")
    answer = verify(internal, plaintext, estimate={"requests": 1}).json()
    assert answer["period_spend_microcredits"] == TTS
    assert answer["period_reserved_microcredits"] == TTS
    assert answer["wallet"]["available_microcredits"] == 110 * CREDIT - 2 * TTS


def test_journalled_settlements_wait_while_the_store_stays_down(
    internal, owner, store_down, django_capture_on_commit_callbacks
):
    org = _funded(owner, 100)
    key, plaintext = key_make(org=org, actor=owner, limit_credits=50)
    rid = verify(internal, plaintext, estimate={"requests": 1}).json()["reservation_id"]
    store_down.down()
    with django_capture_on_commit_callbacks(execute=True):
        usage_ingest(events=[report(key, rid)])
    assert reservations.settle_pending() == 0
    # One row: the debit and the settlement of the call, gathered in one transaction.
    assert [p.attempts for p in PendingSettlement.objects.all()] == [1]
    store_down.back()
    assert reconcile_reservations() == 0  # the 5 min beat task applies it too
    assert PendingSettlement.objects.count() == 0
    assert _counter(f"kr:{key.pk}:{_period()}") == 0
    assert reservations.reconcile() == []


# --- rebuilding under moves --------------------------------------------------------------


def test_a_debit_settled_while_the_wallet_counter_is_rebuilt_is_counted_at_once(
    internal, owner, monkeypatch
):
    """A move that lands while a rebuild reads PostgreSQL goes to the counter's
    accumulator, which the rebuild adds: nothing missed, no retry. (Bumping a generation
    instead made a rebuild start again at every debit; under a burst it could give up and
    an uncapped key was then answered without a reservation.)"""
    org = _funded(owner, 100)
    _key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    reservations.settle(ids=[], wallets={org.pk: 1})  # a credit: the counter is dropped
    read = reservations._available_from_db

    def read_then_debit(org_pk: int) -> int:
        value = read(org_pk)
        reservations.settle(ids=[], wallets={org_pk: -5 * CREDIT})  # committed after the read
        return value

    monkeypatch.setattr(reservations, "_available_from_db", read_then_debit)
    builds = []
    store = reservations.store()
    original = store.rebuild
    monkeypatch.setattr(store, "rebuild", lambda *a: builds.append(1) or original(*a))

    answer = verify(internal, plaintext, estimate={"requests": 1})
    assert answer.status_code == 200, answer.content
    assert len(builds) == 1
    assert _counter(f"wa:{org.pk}") == 95 * CREDIT  # PostgreSQL's 100 and the debit
    assert answer.json()["wallet"]["available_microcredits"] == 95 * CREDIT - 2 * TTS
    # (The debit never reached PostgreSQL here: the counter is below the truth — the safe
    # side — and the reconcile task says so.)
    assert reservations.reconcile() == [f"wa:{org.pk}: counter {95 * CREDIT}, truth {100 * CREDIT}"]


def test_counters_that_cannot_be_rebuilt_refuse_even_an_uncapped_key(internal, owner, monkeypatch):
    org = _funded(owner, 100)
    _key, plaintext = key_make(org=org, actor=owner)  # no cap
    monkeypatch.setattr(reservations.store(), "rebuild", lambda *args: None)  # never converges
    error = assert_envelope(
        verify(internal, plaintext, estimate={"requests": 1}), 503, "unavailable"
    )
    assert "try again" in error["message"]


def test_a_rebuild_that_read_postgresql_before_a_loss_builds_nothing_after_it(
    internal, owner, monkeypatch
):
    """A rebuild reads, Redis loses its data, the rebuild writes: its numbers (and its
    decision that nothing needed holding) are from before the loss. Generations cannot
    tell — absent before (never bumped) and after (lost) — so the store's epoch, read with
    them, must still be the same when the script runs; else nothing is built and the
    caller reads again. (In a burst flushed at its start, such a stale first build let
    calls through without the recovery hold: 153 credits charged against 150.)"""
    org = _funded(owner, 100)
    key, _plaintext = key_make(org=org, actor=owner)
    n = reservations.names(reservations._prefix(), key.pk, org.pk, _period())
    read = reservations._available_from_db

    def read_then_lose(org_pk: int) -> int:
        value = read(org_pk)
        reservations.store().reset()  # Redis loses its data while PostgreSQL is read
        return value

    monkeypatch.setattr(reservations, "_available_from_db", read_then_lose)
    reservations._rebuild(n, key_pk=key.pk, org_pk=org.pk, period=_period(), cap=None)
    assert reservations.store().mget([n["wa"], n["wseen"]]) == [None, None]

    monkeypatch.setattr(reservations, "_available_from_db", read)
    reservations._rebuild(n, key_pk=key.pk, org_pk=org.pk, period=_period(), cap=None)
    assert _counter(f"wa:{org.pk}") == 100 * CREDIT


def test_counters_stay_exact_integers_at_any_size(internal, owner):
    """Lua writes a number of 15 digits or more as 1e+15 unless told otherwise."""
    org = _funded(owner, 2_000_000_000)  # 2e15 µcr
    _key, plaintext = key_make(org=org, actor=owner)
    assert verify(internal, plaintext, estimate={"requests": 1}).status_code == 200
    assert _counter(f"wa:{org.pk}") == 2_000_000_000 * CREDIT
    reservations.settle(ids=[], wallets={org.pk: -123_456_789_012_345})
    assert _counter(f"wa:{org.pk}") == 2_000_000_000 * CREDIT - 123_456_789_012_345
